// The HTTP side of `anycost studio` (cpp-httplib, Debian's libcpp-httplib-dev): the page, and the JSON API
// the page talks to (docs in examples/studio/README.md). Every request is checked before anything runs: JSON
// is parsed with byte and depth limits, numbers are range-checked, uploads are capped in bytes and pixels and
// decoded by the library's hardened decoder, session ids are looked up (unknown ones get 404), and no part of a
// request names a file. Errors are JSON {"error": "..."} with a 4xx status; the server stays up.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <anycost/io/bounded_json.hpp>
#include <anycost/io/image.hpp>
#include <anycost/io/resize_image.hpp>

#include "render_pool.hpp"
#include "session.hpp"
#include "studio.hpp"

namespace anycost_studio {

// An error answered with its own status (4xx) and message.
struct HttpError : std::runtime_error {
  int status;
  HttpError(int s, const std::string& message) : std::runtime_error(message), status(s) {}
};

class StudioServer {
 public:
  StudioServer(Studio& studio, std::string_view page)
      : studio_(studio),
        page_(page),
        pool_(studio.options().workers, studio.options().threads, studio.options().max_queue),
        sessions_(studio.options().max_sessions),
        projector_(studio, studio.options().max_projections, studio.options().threads) {
    routes();
  }

  // Binds host:port (port 0: any free port) and returns the port; check_host: refuse requests whose Host
  // header is not this server's loopback name (a web page cannot reach it through DNS rebinding).
  int bind(const std::string& host, int port, bool check_host) {
    check_host_ = check_host;
    int listening = -1;
    http_.set_socket_options([&listening](int sock) {
      const int yes = 1;  // httplib's default, less SO_REUSEPORT: a second studio on the same port must fail
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listening = sock;
    });
    const int bound = port == 0 ? http_.bind_to_any_port(host) : (http_.bind_to_port(host, port) ? port : -1);
    ANYCOST_CHECK(bound > 0, IoError, "studio: cannot listen on ", host, ":", port,
                  " (in use, or not an address of this machine)");
    // Debian's compiled httplib listens with a backlog of 5: a burst of connections (a page's parallel requests,
    // several tabs) overflows it and the kernel resets some. Listening again on the socket raises the backlog.
    if (listening >= 0) ::listen(listening, SOMAXCONN);
    port_ = bound;
    return bound;
  }
  void run() { http_.listen_after_bind(); }  // until stop()
  void stop() { http_.stop(); }
  bool running() const { return http_.is_running(); }

 private:
  using Req = httplib::Request;
  using Res = httplib::Response;

  static void send_json(Res& res, const nlohmann::json& j, int status = 200) {
    res.status = status;
    res.set_content(j.dump(), "application/json");
  }

  nlohmann::json parse_body(const Req& req) const {
    return io::parse_json_bounded<HttpErrorAdapter>(req.body, {studio_.options().max_upload_bytes, 8}, "the request body");
  }
  // parse_json_bounded raises its Err type with one message argument: a 400.
  struct HttpErrorAdapter : HttpError {
    explicit HttpErrorAdapter(const std::string& m) : HttpError(400, m) {}
  };

  std::shared_ptr<Session> session(const Req& req) {
    std::shared_ptr<Session> s = sessions_.find(req.matches[1]);
    if (!s) throw HttpError(404, "unknown session (it expired or the server restarted): reload the page");
    return s;
  }

  static nlohmann::json state_json(const Session& s) {  // caller holds s.mutex
    const editing::EditHistory& h = s.history;
    nlohmann::json j = {{"source", "none"}, {"seed", nullptr}, {"edits", nlohmann::json::object()},
                        {"can_undo", h.can_undo()}, {"can_redo", h.can_redo()}, {"position", h.position()},
                        {"length", h.size()}};
    if (!h.empty()) {
      const editing::EditState& st = h.current();
      j["source"] = editing::source_name(st.base->source);
      if (st.base->seed) j["seed"] = *st.base->seed;
      j["edits"] = st.edits;
    }
    return j;
  }
  nlohmann::json state_reply(Session& s) {
    std::lock_guard l(s.mutex);
    return {{"state", state_json(s)}};
  }

  // ---- request fields ----
  static std::uint64_t uint_field(const nlohmann::json& j, const char* key, std::uint64_t max) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > max)
      throw HttpError(400, std::string("\"") + key + "\" must be an integer from 0 to " + std::to_string(max));
    return it->get<std::uint64_t>();
  }
  std::map<std::string, double> edits_field(const nlohmann::json& j) const {
    std::map<std::string, double> edits;
    const auto it = j.find("edits");
    if (it == j.end()) return edits;
    if (!it->is_object()) throw HttpError(400, "\"edits\" must be an object {direction: strength}");
    for (const auto& [name, v] : it->items()) {
      if (!v.is_number()) throw HttpError(400, "the strength of '" + name + "' is not a number");
      edits[name] = v.get<double>();
    }
    try {
      studio_.check_edits(edits);
    } catch (const ValueError& e) {
      throw HttpError(400, e.what());
    }
    return editing::EditState::normalized(std::move(edits));
  }
  static PreviewConfig config_field(const nlohmann::json& j) {
    PreviewConfig p;
    auto number = [&](const char* key) {
      const auto& v = j.at(key);
      if (!v.is_number()) throw HttpError(400, std::string("\"") + key + "\" must be a number");
      return v.get<double>();
    };
    if (j.contains("budget_ms")) {
      p.budget_ms = number("budget_ms");
    } else {
      if (j.contains("ratio")) p.ratio = number("ratio");
      if (j.contains("resolution")) {
        const double r = number("resolution");
        if (r != std::floor(r) || r < 1 || r > 1 << 16) throw HttpError(400, "\"resolution\" must be a small integer");
        p.resolution = static_cast<int>(r);
      }
    }
    return p;
  }

  nlohmann::json render_json(const Render& r) const {
    nlohmann::json c = {{"describe", r.cfg.describe()},
                        {"resolution", r.cfg.resolution()}, {"channels", r.cfg.channels()}, {"macs", r.macs}};
    if (r.predicted_ms) c["predicted_ms"] = *r.predicted_ms;
    return {{"png", png_data_url(r.image)}, {"ms", r.ms}, {"macs", r.macs}, {"config", c}};
  }

  // Runs f on a render worker and waits; a bad configuration is the client's error (400).
  template <class F>
  auto on_worker(F f) -> decltype(f()) {
    auto future = pool_.submit(std::move(f));
    try {
      return future.get();
    } catch (const ValueError& e) {
      throw HttpError(400, e.what());
    }
  }

  // The committed state of a session: (base W+, edits); 409 before any seed or upload.
  static std::pair<Tensor, std::map<std::string, double>> committed(Session& s) {
    std::lock_guard l(s.mutex);
    if (s.history.empty()) throw HttpError(409, "no image yet: pick a seed or upload an image");
    const editing::EditState& st = s.history.current();
    return {st.base->wplus, st.edits};
  }

  // ---- routes ----
  void routes() {
    const std::string sid = "/api/session/([0-9a-f]{32})";
    http_.set_payload_max_length(studio_.options().max_upload_bytes);
    http_.set_read_timeout(10);
    http_.set_write_timeout(10);
    const unsigned hw = std::max(2u, std::thread::hardware_concurrency());
    http_.new_task_queue = [hw] { return new httplib::ThreadPool(std::max(8u, 2 * hw)); };
    http_.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});

    http_.set_pre_routing_handler([this](const Req& req, Res& res) {
      if (!check_host_ || host_allowed(req.get_header_value("Host"))) return httplib::Server::HandlerResponse::Unhandled;
      send_json(res, {{"error", "unexpected Host header '" + req.get_header_value("Host") + "'"}}, 403);
      return httplib::Server::HandlerResponse::Handled;
    });
    http_.set_exception_handler([](const Req&, Res& res, std::exception_ptr ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const HttpError& e) {
        send_json(res, {{"error", e.what()}}, e.status);
      } catch (const Busy& e) {
        send_json(res, {{"error", e.what()}}, 503);
      } catch (const std::exception& e) {
        send_json(res, {{"error", std::string("internal error: ") + e.what()}}, 500);
      }
    });
    // Errors httplib answers itself (no route, payload too large) get a JSON message too.
    http_.set_error_handler([this](const Req& req, Res& res) {
      if (!res.body.empty()) return;
      std::string m = "error " + std::to_string(res.status);
      if (res.status == 404) m = "no such endpoint: " + req.method + " " + req.path;
      if (res.status == 413)
        m = "the request is larger than the limit of " + std::to_string(studio_.options().max_upload_bytes) + " bytes";
      if (res.status == 400) m = "malformed request";
      send_json(res, {{"error", m}}, res.status);
    });

    http_.Get("/", [this](const Req&, Res& res) {
      res.set_header("Content-Security-Policy",
                     "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data: "
                     "blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
      res.set_content(std::string(page_), "text/html; charset=utf-8");
    });
    http_.Get("/favicon.ico", [](const Req&, Res& res) { res.status = 204; });
    http_.Get("/api/info", [this](const Req&, Res& res) { send_json(res, studio_.info()); });

    http_.Post("/api/session", [this](const Req&, Res& res) {
      auto [id, s] = sessions_.create();
      nlohmann::json j = state_reply(*s);
      j["session"] = id;
      send_json(res, j);
    });

    http_.Post("/api/gallery", [this](const Req& req, Res& res) {
      const nlohmann::json body = parse_body(req);
      const auto it = body.find("seeds");
      if (it == body.end() || !it->is_array() || it->empty() || it->size() > 16)
        throw HttpError(400, "\"seeds\" must be an array of 1 to 16 seeds");
      std::vector<std::uint64_t> seeds;
      for (const auto& v : *it) {
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 0xffffffffull)
          throw HttpError(400, "a seed must be an integer from 0 to 4294967295");
        seeds.push_back(v.get<std::uint64_t>());
      }
      nlohmann::json images = on_worker([&] {
        nlohmann::json out = nlohmann::json::array();
        const models::SubnetConfig cfg = studio_.generator().channel_table().uniform(0.25);
        for (std::uint64_t s : seeds)
          out.push_back({{"seed", s}, {"png", png_data_url(studio_.render(studio_.seed_latent(s), cfg).image)}});
        return out;
      });
      send_json(res, {{"images", images}});
    });

    http_.Post(sid + "/seed", [this](const Req& req, Res& res) {
      const auto s = session(req);
      const std::uint64_t seed = uint_field(parse_body(req), "seed", 0xffffffffull);
      auto base = std::make_shared<editing::EditBase>();
      base->source = editing::Source::seed;
      base->seed = seed;
      base->wplus = on_worker([&] { return studio_.seed_latent(seed); });
      {
        std::lock_guard l(s->mutex);
        s->history.push({std::move(base), {}});
      }
      send_json(res, state_reply(*s));
    });

    http_.Post(sid + "/preview", [this](const Req& req, Res& res) {
      const auto s = session(req);
      const nlohmann::json body = parse_body(req);
      const std::uint64_t seq = uint_field(body, "seq", std::uint64_t{1} << 53);
      const auto edits = edits_field(body);
      const PreviewConfig p = config_field(body);
      for (std::uint64_t seen = s->newest_preview; seen < seq && !s->newest_preview.compare_exchange_weak(seen, seq);) {
      }
      const Tensor base = committed(*s).first;
      std::optional<nlohmann::json> out = on_worker([&]() -> std::optional<nlohmann::json> {
        if (s->newest_preview > seq) return std::nullopt;  // a newer preview is waiting: skip this one
        std::optional<double> predicted;
        const models::SubnetConfig cfg = studio_.resolve(p, &predicted);
        Render r = studio_.render(studio_.apply(base, edits), cfg);
        r.predicted_ms = predicted;
        return render_json(r);
      });
      if (!out) {
        send_json(res, {{"error", "superseded"}, {"seq", seq}}, 409);
        return;
      }
      (*out)["seq"] = seq;
      send_json(res, *out);
    });

    http_.Post(sid + "/commit", [this](const Req& req, Res& res) {
      const auto s = session(req);
      const auto edits = edits_field(parse_body(req));
      {
        std::lock_guard l(s->mutex);
        if (s->history.empty()) throw HttpError(409, "no image yet: pick a seed or upload an image");
        s->history.push({s->history.current().base, edits});
      }
      send_json(res, state_reply(*s));
    });
    http_.Post(sid + "/undo", [this](const Req& req, Res& res) {
      const auto s = session(req);
      {
        std::lock_guard l(s->mutex);
        if (!s->history.undo()) throw HttpError(409, "nothing to undo");
      }
      send_json(res, state_reply(*s));
    });
    http_.Post(sid + "/redo", [this](const Req& req, Res& res) {
      const auto s = session(req);
      {
        std::lock_guard l(s->mutex);
        if (!s->history.redo()) throw HttpError(409, "nothing to redo");
      }
      send_json(res, state_reply(*s));
    });
    http_.Post(sid + "/reset", [this](const Req& req, Res& res) {
      const auto s = session(req);
      {
        std::lock_guard l(s->mutex);
        if (s->history.empty()) throw HttpError(409, "no image yet: pick a seed or upload an image");
        s->history.push({s->history.current().base, {}});
      }
      send_json(res, state_reply(*s));
    });

    http_.Post(sid + "/finalize", [this](const Req& req, Res& res) {
      const auto s = session(req);
      const PreviewConfig p = config_field(parse_body(req));
      const auto [base, edits] = committed(*s);
      send_json(res, on_worker([&] {
        const Tensor w = studio_.apply(base, edits);
        std::optional<double> predicted;
        Render preview = studio_.render(w, studio_.resolve(p, &predicted));
        preview.predicted_ms = predicted;
        const Render final = studio_.render(w, studio_.full());
        const std::int64_t R = final.image.size(1), r = preview.image.size(1);
        const Tensor up = upscale_nearest(preview.image.unsqueeze(0), R / r).select(0, 0);
        // Consistency as training measures it: the full render brought down to the preview's resolution.
        const Tensor down = r == R ? final.image
                                   : resize_bilinear(Var(final.image.unsqueeze(0)), r, r, AlignCorners::yes).data().select(0, 0);
        const Var d = abs(Var(final.image) - Var(up));
        const Tensor diff = Var(clamp(mean(d, {0}, true) * 4.0, 0.0, 2.0) - 1.0).data();
        return nlohmann::json{{"preview", render_json(preview)},
                              {"final", render_json(final)},
                              {"diff", {{"png", png_data_url(diff)}, {"psnr", psnr(preview.image, down)},
                                        {"mean_abs", mean(d).data().item()}}}};
      }));
    });

    http_.Get(sid + "/download", [this](const Req& req, Res& res) {
      const auto s = session(req);
      const auto [base, edits] = committed(*s);
      const std::vector<unsigned char> png =
          on_worker([&] { return io::encode_png(studio_.render(studio_.apply(base, edits), studio_.full()).image); });
      res.set_header("Content-Disposition", "attachment; filename=\"anycost.png\"");
      res.set_content(std::string(png.begin(), png.end()), "image/png");
    });

    http_.Post(sid + "/upload", [this](const Req& req, Res& res) {
      const auto s = session(req);
      const std::string& b = req.body;
      const auto* data = reinterpret_cast<const unsigned char*>(b.data());
      const bool png = b.size() >= 8 && std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) == 0;
      const bool jpeg = b.size() >= 3 && std::memcmp(b.data(), "\xff\xd8\xff", 3) == 0;
      if (b.empty()) throw HttpError(400, "the upload is empty");
      if (!png && !jpeg) throw HttpError(415, "the upload is not a PNG or JPEG image");
      Tensor image;
      try {
        image = io::decode_image(data, b.size(), "the upload", studio_.options().max_upload_pixels);
      } catch (const FormatError& e) {
        // decode_image refuses oversized images from their header, before decoding, with this wording.
        const bool too_large = std::string_view(e.what()).find("more than the limit") != std::string_view::npos;
        throw HttpError(too_large ? 413 : 400, e.what());
      }
      const Tensor target = io::resize_center_crop(image, studio_.generator().resolution());
      const auto job = projector_.start(s, target);
      send_json(res, {{"job", job->id}}, 202);
    });

    http_.Get(sid + "/projection", [this](const Req& req, Res& res) {
      const auto s = session(req);
      std::shared_ptr<ProjectionJob> job;
      {
        std::lock_guard l(s->mutex);
        job = s->projection;
      }
      if (!job) {
        send_json(res, {{"status", "idle"}});
        return;
      }
      nlohmann::json j;
      Tensor current;
      int step;
      {
        std::lock_guard l(job->mutex);
        step = job->step;
        current = job->current;
        j = {{"job", job->id}, {"status", ProjectionJob::name(job->status)}, {"step", std::max(step, 0)},
             {"steps", job->steps}, {"mse", job->mse}, {"psnr", 10 * std::log10(4.0 / std::max(job->mse, 1e-20))}};
        if (!job->error.empty()) j["error"] = job->error;
        if (job->rendered_step == step) j["png"] = job->rendered_png;
      }
      if (current.defined() && !j.contains("png")) {
        std::string png = on_worker([&] { return png_data_url(studio_.render(current, studio_.full()).image); });
        std::lock_guard l(job->mutex);
        job->rendered_step = step;
        job->rendered_png = png;
        j["png"] = std::move(png);
      }
      j["target"] = png_data_url(job->target);
      if (j["status"] == "done") j["state"] = state_reply(*s)["state"];  // the projection is the state now
      send_json(res, j);
    });

    http_.Get(sid + "/history", [this](const Req& req, Res& res) {
      const auto s = session(req);
      std::lock_guard l(s->mutex);
      if (s->history.empty()) throw HttpError(409, "nothing to save yet: pick a seed or upload an image");
      send_json(res, editing::history_to_json(s->history, studio_.model_key()));
    });
    http_.Post(sid + "/history", [this](const Req& req, Res& res) {
      const auto s = session(req);
      editing::HistoryShape shape;
      shape.model = studio_.model_key();
      shape.n_style = studio_.generator().n_style();
      shape.style_dim = studio_.generator().style_dim();
      for (const auto& [name, d] : studio_.directions()) shape.directions.insert(name);
      shape.max_strength = studio_.options().slider_range;
      editing::EditHistory h;
      try {
        h = editing::history_from_json(parse_body(req), shape);
      } catch (const FormatError& e) {
        throw HttpError(400, e.what());
      }
      {
        std::lock_guard l(s->mutex);
        s->history = std::move(h);
      }
      send_json(res, state_reply(*s));
    });
  }

  bool host_allowed(const std::string& host) const {
    const std::string p = ":" + std::to_string(port_);
    for (const char* name : {"127.0.0.1", "localhost", "[::1]"})
      if (host == name + p || host == name) return true;
    return false;
  }

  Studio& studio_;
  std::string_view page_;
  RenderPool pool_;
  SessionStore sessions_;
  Projector projector_;
  httplib::Server http_;
  bool check_host_ = true;
  int port_ = 0;
};

}  // namespace anycost_studio
