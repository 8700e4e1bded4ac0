// `anycost studio`'s server (examples/studio), in process on a free loopback port with the 32x32 test
// generator: every endpoint, the editor's state machine through them (seed, preview, commit, undo/redo,
// reset, finalize, upload and projection, history save/load), separate sessions, superseded previews, and
// hostile requests (bad JSON, deep nesting, oversized and non-image uploads, huge pixel counts, huge slider
// values, unknown sessions, a foreign Host header, a burst of concurrent requests): each gets a clear 4xx or
// 503 and the server keeps answering.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "anycost/io/image.hpp"
#include "anycost/models/checkpoint.hpp"
#include "studio/server.hpp"
#include "support/png_header.hpp"

using namespace anycost;
using nlohmann::json;

namespace {

const std::string studio_data = ANYCOST_TEST_DATA_DIR;

std::vector<unsigned char> unbase64(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<unsigned char> out;
  int bits = 0, acc = 0;
  for (char c : s) {
    const int v = value(c);
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// A data URL from the server as an image tensor [3, h, w].
Tensor data_url_image(const json& url) {
  const std::string s = url.get<std::string>();
  const std::string prefix = "data:image/png;base64,";
  REQUIRE(s.rfind(prefix, 0) == 0);
  const std::vector<unsigned char> png = unbase64(s.substr(prefix.size()));
  return io::decode_image(png.data(), png.size(), "data url");
}

double mean_abs_diff(const Tensor& a, const Tensor& b) {
  return mean(abs(Var(a) - Var(b))).data().item();
}

// A studio on the test generator (32x32, style_dim 16) with the two test directions, serving on a free port.
struct TestStudio {
  anycost_studio::Studio studio;
  anycost_studio::StudioServer server;
  std::thread thread;
  int port;

  static anycost_studio::StudioOptions options() {
    anycost_studio::StudioOptions o;
    o.workers = 2;
    o.threads = 1;
    o.max_queue = 8;
    o.max_upload_bytes = 64 << 10;
    o.max_upload_pixels = 256 * 256;
    o.projection_steps = 3;
    return o;
  }
  TestStudio()
      : studio(models::load_generator(studio_data + "/generator/model.safetensors"), "test model",
               anycost_studio::load_directions(studio_data + "/generator/directions-small.safetensors", 16), std::nullopt,
               options()),
        server(studio, "<!doctype html><title>anycost studio</title>") {
    port = server.bind("127.0.0.1", 0, true);
    thread = std::thread([this] { server.run(); });
    for (int i = 0; i < 200 && !server.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~TestStudio() {
    server.stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    return c;
  }
};

// POST JSON, returning (status, body as JSON).
std::pair<int, json> post(const httplib::Client& cc, const std::string& path, const json& body = json::object()) {
  auto& c = const_cast<httplib::Client&>(cc);
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  REQUIRE(r);
  return {r->status, json::parse(r->body)};
}
std::pair<int, json> post_raw(const httplib::Client& cc, const std::string& path, const std::string& body,
                              const char* type = "application/octet-stream") {
  auto& c = const_cast<httplib::Client&>(cc);
  auto r = c.Post(path.c_str(), body, type);
  REQUIRE(r);
  return {r->status, json::parse(r->body)};
}
std::pair<int, json> get(const httplib::Client& cc, const std::string& path) {
  auto& c = const_cast<httplib::Client&>(cc);
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  return {r->status, json::parse(r->body)};
}

std::string new_session(const httplib::Client& c) {
  auto [status, j] = post(c, "/api/session");
  REQUIRE(status == 200);
  return "/api/session/" + j["session"].get<std::string>();
}

std::string png_bytes(const Tensor& image) {
  const std::vector<unsigned char> b = io::encode_png(image);
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST_CASE("server: the page, the model's info and unguessable sessions") {
  TestStudio t;
  auto c = t.client();
  auto page = c.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(page->body.find("anycost studio") != std::string::npos);
  CHECK(page->get_header_value("Content-Security-Policy").find("default-src 'none'") == 0);

  auto [status, info] = get(c, "/api/info");
  CHECK(status == 200);
  CHECK(info["resolution"] == 32);
  CHECK(info["style_dim"] == 16);
  CHECK(info["resolutions"] == json::array({8, 16, 32}));
  CHECK(info["ratios"] == json::array({1.0, 0.75, 0.5, 0.25}));
  CHECK(info["directions"].size() == 2);
  CHECK(info["directions"][0]["name"] == "age");
  CHECK(info["encoder"] == false);

  auto [s1, a] = post(c, "/api/session");
  auto [s2, b] = post(c, "/api/session");
  const std::string ida = a["session"], idb = b["session"];
  CHECK(ida.size() == 32);
  CHECK(ida.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(ida != idb);
  CHECK(a["state"]["source"] == "none");
  CHECK_FALSE(a["state"]["can_undo"].get<bool>());

  auto [s404, e] = post(c, "/api/session/0123456789abcdef0123456789abcdef/seed", {{"seed", 1}});
  CHECK(s404 == 404);
  CHECK(e["error"].get<std::string>().find("unknown session") != std::string::npos);
  auto [n404, ne] = get(c, "/api/nothing");
  CHECK(n404 == 404);
  CHECK(ne["error"].get<std::string>().find("no such endpoint: GET /api/nothing") != std::string::npos);
}

TEST_CASE("server: seed, live previews at any width and resolution, commit, undo/redo, reset") {
  TestStudio t;
  auto c = t.client();
  const std::string s = new_session(c);
  auto [early, e] = post(c, s + "/preview", {{"seq", 1}, {"ratio", 0.25}});
  CHECK(early == 409);
  CHECK(e["error"].get<std::string>().find("no image yet") != std::string::npos);

  auto [st, seeded] = post(c, s + "/seed", {{"seed", 7}});
  REQUIRE(st == 200);
  CHECK(seeded["state"]["source"] == "seed");
  CHECK(seeded["state"]["seed"] == 7);

  auto [p1s, p1] = post(c, s + "/preview", {{"seq", 2}, {"ratio", 0.25}, {"resolution", 16}});
  REQUIRE(p1s == 200);
  CHECK(p1["seq"] == 2);
  CHECK(p1["config"]["resolution"] == 16);
  CHECK(p1["config"]["describe"].get<std::string>().find("@ 16") != std::string::npos);
  CHECK(p1["macs"].get<std::int64_t>() > 0);
  CHECK(p1["ms"].get<double>() > 0);
  const Tensor plain = data_url_image(p1["png"]);
  CHECK(plain.shape() == Shape{3, 16, 16});

  // The same state renders the same image; an edit changes it.
  auto [p2s, p2] = post(c, s + "/preview", {{"seq", 3}, {"ratio", 0.25}, {"resolution", 16}, {"edits", {{"smile", 3}}}});
  REQUIRE(p2s == 200);
  const Tensor edited = data_url_image(p2["png"]);
  CHECK(mean_abs_diff(plain, edited) > 1e-3);
  auto [p3s, p3] = post(c, s + "/preview", {{"seq", 4}, {"ratio", 0.25}, {"resolution", 16}});
  CHECK(mean_abs_diff(plain, data_url_image(p3["png"])) == 0);
  // Wider means more MACs.
  auto [p4s, p4] = post(c, s + "/preview", {{"seq", 5}, {"ratio", 1}, {"resolution", 16}});
  CHECK(p4["macs"].get<std::int64_t>() > p1["macs"].get<std::int64_t>());
  CHECK(p4["config"]["channels"] != p1["config"]["channels"]);

  // A preview older than the newest one seen is dropped, not rendered.
  auto [old_s, old] = post(c, s + "/preview", {{"seq", 4}, {"ratio", 0.5}});
  CHECK(old_s == 409);
  CHECK(old["error"] == "superseded");

  // Committing is one undo step; an identical commit adds none.
  auto [cs, committed] = post(c, s + "/commit", {{"edits", {{"smile", 3}, {"age", 0}}}});
  CHECK(committed["state"]["edits"] == json({{"smile", 3.0}}));
  CHECK(committed["state"]["length"] == 2);
  post(c, s + "/commit", {{"edits", {{"smile", 3}}}});
  auto [cs2, again] = post(c, s + "/commit", {{"edits", {{"smile", 3}, {"age", -1}}}});
  CHECK(again["state"]["length"] == 3);
  auto [us, undone] = post(c, s + "/undo");
  CHECK(undone["state"]["edits"] == json({{"smile", 3.0}}));
  CHECK(undone["state"]["can_redo"] == true);
  auto [rs, redone] = post(c, s + "/redo");
  CHECK(redone["state"]["edits"]["age"] == -1.0);
  auto [r2s, r2] = post(c, s + "/redo");
  CHECK(r2s == 409);
  CHECK(r2["error"] == "nothing to redo");
  auto [zs, reset] = post(c, s + "/reset");
  CHECK(reset["state"]["edits"].empty());
  CHECK(reset["state"]["seed"] == 7);
  for (int i = 0; i < 4; ++i) post(c, s + "/undo");
  auto [u5, u5j] = post(c, s + "/undo");
  CHECK(u5 == 409);
  CHECK(u5j["error"] == "nothing to undo");

  // A latency budget picks a sub-network and says what it predicted.
  auto [bs, budget] = post(c, s + "/preview", {{"seq", 10}, {"budget_ms", 1000}});
  REQUIRE(bs == 200);
  CHECK(budget["config"]["predicted_ms"].get<double>() > 0);
  CHECK(budget["config"]["predicted_ms"].get<double>() <= 1000);
  CHECK(budget["config"]["resolution"] == 32);  // everything fits in a second: the widest, full resolution
  auto [tiny_s, tiny] = post(c, s + "/preview", {{"seq", 11}, {"budget_ms", 1e-6}});
  REQUIRE(tiny_s == 200);  // nothing fits: the cheapest, with its prediction above the budget
  CHECK(tiny["config"]["resolution"] == 8);
}

TEST_CASE("server: sessions do not see each other") {
  TestStudio t;
  auto c = t.client();
  const std::string a = new_session(c), b = new_session(c);
  post(c, a + "/seed", {{"seed", 1}});
  post(c, a + "/commit", {{"edits", {{"smile", 2}}}});
  auto [bs, bstate] = post(c, b + "/undo");
  CHECK(bs == 409);
  post(c, b + "/seed", {{"seed", 2}});
  auto [as, astate] = post(c, a + "/undo");
  CHECK(astate["state"]["seed"] == 1);
  auto [pa_s, pa] = post(c, a + "/preview", {{"seq", 1}, {"ratio", 1}});
  auto [pb_s, pb] = post(c, b + "/preview", {{"seq", 1}, {"ratio", 1}});
  CHECK(mean_abs_diff(data_url_image(pa["png"]), data_url_image(pb["png"])) > 1e-3);
}

TEST_CASE("server: finalize renders the full generator beside the preview, and download gives a PNG") {
  TestStudio t;
  auto c = t.client();
  const std::string s = new_session(c);
  post(c, s + "/seed", {{"seed", 3}});
  auto [fs, f] = post(c, s + "/finalize", {{"ratio", 0.25}, {"resolution", 16}});
  REQUIRE(fs == 200);
  const Tensor final = data_url_image(f["final"]["png"]), preview = data_url_image(f["preview"]["png"]);
  CHECK(final.shape() == Shape{3, 32, 32});
  CHECK(preview.shape() == Shape{3, 16, 16});
  CHECK(f["final"]["macs"].get<std::int64_t>() > f["preview"]["macs"].get<std::int64_t>());
  CHECK(data_url_image(f["diff"]["png"]).shape() == Shape{3, 32, 32});
  CHECK(f["diff"]["mean_abs"].get<double>() > 0);
  CHECK(std::isfinite(f["diff"]["psnr"].get<double>()));
  // The full config's own "preview" is the final render: no difference at all.
  auto [f1s, f1] = post(c, s + "/finalize", {{"ratio", 1}});
  CHECK(f1["diff"]["mean_abs"] == 0.0);

  auto r = c.Get((s + "/download").c_str());
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "image/png");
  CHECK(r->get_header_value("Content-Disposition").find("attachment") == 0);
  const Tensor downloaded =
      io::decode_image(reinterpret_cast<const unsigned char*>(r->body.data()), r->body.size(), "download");
  CHECK(mean_abs_diff(downloaded, final) == 0);
}

TEST_CASE("server: an upload is projected into W+ and becomes the image being edited") {
  TestStudio t;
  auto c = t.client();
  const std::string s = new_session(c);
  auto [idle_s, idle] = get(c, s + "/projection");
  CHECK(idle["status"] == "idle");
  // The target: a render of the model itself (seed 11), which a projection can approach.
  post(c, s + "/seed", {{"seed", 11}});
  auto [fs, f] = post(c, s + "/finalize", {{"ratio", 1}});
  const Tensor target = data_url_image(f["final"]["png"]);
  const std::string other = new_session(c);
  auto [us, up] = post_raw(c, other + "/upload", png_bytes(target), "image/png");
  REQUIRE(us == 202);
  CHECK(up["job"].get<int>() >= 1);
  json p;
  for (int i = 0; i < 600; ++i) {
    p = get(c, other + "/projection").second;
    if (p["status"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(p["status"] == "done");
  CHECK(p["step"] == 3);
  CHECK(p["state"]["source"] == "upload");
  CHECK(data_url_image(p["target"]).shape() == Shape{3, 32, 32});
  CHECK(data_url_image(p["png"]).shape() == Shape{3, 32, 32});
  auto [ps, preview] = post(c, other + "/preview", {{"seq", 1}, {"ratio", 1}});
  REQUIRE(ps == 200);
  auto [ss, state] = post(c, other + "/reset");
  CHECK(state["state"]["source"] == "upload");
  // Three L-BFGS steps from the mean w move toward the target.
  const Tensor mean_render = t.studio.render(
      t.studio.mean_w().reshape({1, 1, 16}).expand({1, t.studio.generator().n_style(), 16}).contiguous(), t.studio.full()).image;
  CHECK(mean_abs_diff(data_url_image(preview["png"]), target) < mean_abs_diff(mean_render, target));
}

TEST_CASE("server: hostile uploads get 4xx with a clear message") {
  TestStudio t;
  auto c = t.client();
  const std::string s = new_session(c);
  const std::string good = png_bytes(Tensor::zeros({3, 40, 50}));
  auto [t1, e1] = post_raw(c, s + "/upload", "just some text");
  CHECK(t1 == 415);
  CHECK(e1["error"] == "the upload is not a PNG or JPEG image");
  auto [t2, e2] = post_raw(c, s + "/upload", good.substr(0, good.size() / 2));
  CHECK(t2 == 400);
  CHECK(e2["error"].get<std::string>().find("cannot decode PNG") != std::string::npos);
  auto [t3, e3] = post_raw(c, s + "/upload", "");
  CHECK(t3 == 400);
  // 1000 x 1000 pixels declared in the header: refused before decoding (limit 256 x 256).
  std::string wide = good;
  anycost_test::set_png_size(wide, 1000, 1000);
  auto [t4, e4] = post_raw(c, s + "/upload", wide);
  CHECK(t4 == 413);
  CHECK(e4["error"].get<std::string>().find("more than the limit of 65536") != std::string::npos);
  auto [t5, e5] = post_raw(c, s + "/upload", std::string(70 << 10, 'x'));
  CHECK(t5 == 413);
  CHECK(e5["error"].get<std::string>().find("larger than the limit of 65536 bytes") != std::string::npos);
  auto [ok, j] = get(c, "/api/info");
  CHECK(ok == 200);
}

TEST_CASE("server: hostile requests get 4xx with a clear message and the server stays up") {
  TestStudio t;
  auto c = t.client();
  const std::string s = new_session(c);
  post(c, s + "/seed", {{"seed", 5}});
  auto [b1, e1] = post_raw(c, s + "/preview", "{\"seq\": 1, ", "application/json");
  CHECK(b1 == 400);
  CHECK(e1["error"].get<std::string>().find("is not valid JSON") != std::string::npos);
  auto [b2, e2] = post_raw(c, s + "/preview", std::string(50, '[') + std::string(50, ']'), "application/json");
  CHECK(b2 == 400);
  CHECK(e2["error"].get<std::string>().find("nested deeper than 8") != std::string::npos);
  auto [b3, e3] = post(c, s + "/preview", {{"seq", 1}, {"edits", {{"smile", 1e308}}}});
  CHECK(b3 == 400);
  CHECK(e3["error"].get<std::string>().find("the strength of 'smile' must be within +-5") != std::string::npos);
  auto [b4, e4] = post(c, s + "/commit", {{"edits", {{"wink", 1}}}});
  CHECK(b4 == 400);
  CHECK(e4["error"] == "no direction named 'wink'");
  auto [b5, e5] = post(c, s + "/preview", {{"seq", 2}, {"ratio", 0.3}});
  CHECK(b5 == 400);
  CHECK(e5["error"].get<std::string>().find("ratio 0.3 is not one of") != std::string::npos);
  auto [b6, e6] = post(c, s + "/preview", {{"seq", 3}, {"resolution", 64}});
  CHECK(b6 == 400);
  auto [b7, e7] = post(c, s + "/preview", {{"seq", -1}});
  CHECK(b7 == 400);
  CHECK(e7["error"].get<std::string>().find("\"seq\" must be an integer") != std::string::npos);
  auto [b8, e8] = post(c, s + "/seed", {{"seed", "seven"}});
  CHECK(b8 == 400);
  auto [b9, e9] = post(c, "/api/gallery", {{"seeds", json::array({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})}});
  CHECK(b9 == 400);
  CHECK(e9["error"].get<std::string>().find("1 to 16 seeds") != std::string::npos);
  auto [b10, e10] = post(c, s + "/preview", {{"seq", 4}, {"budget_ms", -3}});
  CHECK(b10 == 400);
  auto [b11, e11] = post_raw(c, s + "/history", "{\"format\": \"nope\"}", "application/json");
  CHECK(b11 == 400);
  CHECK(e11["error"].get<std::string>().find("edit history: \"format\" is not") != std::string::npos);

  // A page on another site cannot reach the server through DNS rebinding: its Host header is refused.
  httplib::Client foreign("127.0.0.1", t.port);
  auto r = foreign.Get("/api/info", {{"Host", "evil.example:" + std::to_string(t.port)}});
  REQUIRE(r);
  CHECK(r->status == 403);

  // A burst of concurrent previews: each one is answered (rendered, superseded or busy), none hangs.
  // (A listen backlog of 5 once made the kernel reset some of these connections.)
  std::atomic<int> answered{0}, ok{0};
  std::mutex failures_mutex;
  std::string failures;  // what each unanswered request got instead
  std::vector<std::thread> burst;
  for (int i = 0; i < 24; ++i)
    burst.emplace_back([&, i] {
      httplib::Client bc("127.0.0.1", t.port);
      bc.set_read_timeout(60);
      auto res = bc.Post((s + "/preview").c_str(), json({{"seq", 100 + i}, {"ratio", 1}}).dump(), "application/json");
      if (res && (res->status == 200 || res->status == 409 || res->status == 503)) {
        ++answered;
      } else {
        std::lock_guard lock(failures_mutex);
        failures += (res ? "status " + std::to_string(res->status) : "error " + httplib::to_string(res.error())) + "\n";
      }
      if (res && res->status == 200) ++ok;
    });
  for (std::thread& th : burst) th.join();
  INFO(failures);
  CHECK(answered == 24);
  CHECK(ok >= 1);
  auto [alive, info] = get(c, "/api/info");
  CHECK(alive == 200);
}

TEST_CASE("server: the edit history saves and loads into another session") {
  TestStudio t;
  auto c = t.client();
  const std::string a = new_session(c), b = new_session(c);
  auto [empty_s, empty] = get(c, a + "/history");
  CHECK(empty_s == 409);
  post(c, a + "/seed", {{"seed", 9}});
  post(c, a + "/commit", {{"edits", {{"smile", 1.5}}}});
  post(c, a + "/commit", {{"edits", {{"smile", 1.5}, {"age", 2}}}});
  post(c, a + "/undo");
  auto [hs, history] = get(c, a + "/history");
  REQUIRE(hs == 200);
  CHECK(history["entries"].size() == 3);
  CHECK(history["bases"].size() == 1);
  auto [ls, loaded] = post(c, b + "/history", history);
  REQUIRE(ls == 200);
  CHECK(loaded["state"]["edits"] == json({{"smile", 1.5}}));
  CHECK(loaded["state"]["can_redo"] == true);
  CHECK(loaded["state"]["seed"] == 9);
  auto [pa_s, pa] = post(c, a + "/finalize", {{"ratio", 1}});
  auto [pb_s, pb] = post(c, b + "/finalize", {{"ratio", 1}});
  CHECK(mean_abs_diff(data_url_image(pa["final"]["png"]), data_url_image(pb["final"]["png"])) == 0);
  history["model"] = "another model";
  auto [bad_s, bad] = post(c, b + "/history", history);
  CHECK(bad_s == 400);
  CHECK(bad["error"].get<std::string>().find("saved with model \"another model\"") != std::string::npos);
}
