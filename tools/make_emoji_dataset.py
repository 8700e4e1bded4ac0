#!/usr/bin/env python3
"""Turns the colour emoji of Debian's fonts-noto-color-emoji into an image folder for `anycost train`.

    apt-get install fonts-noto-color-emoji python3-fonttools python3-pil
    tools/make_emoji_dataset.py --out data/emoji --size 64

Every colour bitmap of the font's CBDT table (136x128 PNGs) that a character or a character sequence
reaches -- through the cmap or a GSUB ligature (ZWJ sequences, skin tones, flags, keycaps) -- is composited
on a fixed background, padded to a centred square and resized (Lanczos) to --size. Writes

    OUT/images/NNNN_<glyph>.png   one per glyph, in glyph-id order (deterministic)
    OUT/labels.json               per image: glyph, code points, Unicode names, skin tone (0 none, 1-5 =
                                  U+1F3FB..U+1F3FF), kind (single / zwj / flag / keycap / modifier /
                                  sequence), and coarse categories from the names (face, person, hand,
                                  animal, food, flag, symbol, object)

The categories are keyword rules over the Unicode character names (Debian ships no CLDR emoji groups that
this could read reliably); labels.json says so. Bad arguments or an unreadable font fail with a message
naming the problem; the output files are written to temporary names and renamed.
"""

import argparse
import io
import json
import os
import sys
import unicodedata

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
SKIN_TONES = {0x1F3FB: 1, 0x1F3FC: 2, 0x1F3FD: 3, 0x1F3FE: 4, 0x1F3FF: 5}
ZWJ, KEYCAP, VS16 = 0x200D, 0x20E3, 0xFE0F
# Joiners and modifiers inside sequences: they say nothing about what the picture shows.
NOT_CONTENT = {ZWJ, VS16, 0x2640, 0x2642, 0x2764, 0x1F48B} | set(SKIN_TONES)

# Keyword rules over the character names (first match per category; an emoji may have several).
CATEGORY_WORDS = {
    "face": ["FACE", "SMILING", "GRINNING", "WINKING"],
    "person": ["PERSON", "MAN", "WOMAN", "BOY", "GIRL", "BABY", "ADULT", "CHILD", "PEOPLE", "FAMILY", "COUPLE",
               "PRINCE", "PRINCESS", "GUARDSMAN", "DETECTIVE", "ELF", "MAGE", "FAIRY", "VAMPIRE", "ZOMBIE",
               "MERPERSON", "GENIE", "SUPERHERO", "SUPERVILLAIN", "NINJA", "SANTA", "CLAUS", "OLDER", "BRIDE",
               "ANGEL", "DANCER", "SURFER", "SWIMMER", "RUNNER", "PEDESTRIAN", "JUGGLING", "WRESTLERS",
               "CONSTRUCTION WORKER", "POLICE OFFICER", "ASTRONAUT", "PILOT", "FIREFIGHTER", "COOK",
               "FARMER", "MECHANIC", "SCIENTIST", "TECHNOLOGIST", "TEACHER", "JUDGE", "SINGER", "ARTIST",
               "STUDENT", "HEALTH WORKER", "OFFICE WORKER"],
    "hand": ["HAND", "FINGER", "THUMBS", "FIST", "PALM", "CLAPPING", "WAVING", "OK HAND", "VICTORY", "NAIL",
             "MUSCLE", "LEG", "FOOT", "EAR", "NOSE", "PINCHED", "HANDSHAKE"],
    "animal": ["CAT", "DOG", "MOUSE", "RABBIT", "BEAR", "PANDA", "KOALA", "TIGER", "LION", "COW", "PIG",
               "FROG", "MONKEY", "CHICKEN", "BIRD", "PENGUIN", "DUCK", "EAGLE", "OWL", "BAT", "WOLF", "BOAR",
               "HORSE", "UNICORN", "BEE", "BUG", "BUTTERFLY", "SNAIL", "BEETLE", "ANT", "SPIDER", "SCORPION",
               "TURTLE", "SNAKE", "LIZARD", "DRAGON", "DINOSAUR", "SAUROPOD", "WHALE", "DOLPHIN", "FISH",
               "SHARK", "OCTOPUS", "CRAB", "LOBSTER", "SHRIMP", "SQUID", "ELEPHANT", "CAMEL", "GIRAFFE",
               "ZEBRA", "GORILLA", "ORANGUTAN", "DEER", "OX", "WATER BUFFALO", "RAM", "SHEEP", "GOAT",
               "LLAMA", "HIPPOPOTAMUS", "RHINOCEROS", "KANGAROO", "BADGER", "OTTER", "SLOTH", "SKUNK",
               "HEDGEHOG", "CHIPMUNK", "BEAVER", "RACCOON", "FOX", "HAMSTER", "POODLE", "ROOSTER", "TURKEY",
               "PEACOCK", "PARROT", "SWAN", "FLAMINGO", "DODO", "FEATHER", "SEAL", "MAMMOTH", "BISON",
               "WORM", "MOSQUITO", "FLY", "COCKROACH", "CRICKET", "MICROBE", "JELLYFISH", "GOOSE", "MOOSE",
               "DONKEY", "CHICK", "LADY BEETLE", "POULTRY", "PAW"],
    "food": ["APPLE", "PEAR", "ORANGE", "LEMON", "BANANA", "WATERMELON", "GRAPES", "STRAWBERRY", "MELON",
             "CHERRIES", "PEACH", "MANGO", "PINEAPPLE", "COCONUT", "KIWI", "TOMATO", "EGGPLANT", "AVOCADO",
             "BROCCOLI", "CUCUMBER", "PEPPER", "CORN", "CARROT", "OLIVE", "GARLIC", "ONION", "POTATO",
             "BREAD", "CROISSANT", "BAGEL", "PRETZEL", "CHEESE", "EGG", "BACON", "PANCAKES", "WAFFLE",
             "MEAT", "HAMBURGER", "PIZZA", "HOT DOG", "SANDWICH", "TACO", "BURRITO", "SALAD", "SPAGHETTI",
             "RAMEN", "STEW", "CURRY", "SUSHI", "BENTO", "DUMPLING", "RICE", "COOKIE", "CAKE", "PIE",
             "CHOCOLATE", "CANDY", "LOLLIPOP", "CUSTARD", "HONEY", "DOUGHNUT", "ICE CREAM", "SHAVED ICE",
             "COFFEE", "TEA", "SAKE", "BEER", "WINE", "COCKTAIL", "TROPICAL DRINK", "MILK", "BEVERAGE",
             "JUICE", "FOOD", "FRIES", "POPCORN", "BUTTER", "SALT", "CUPCAKE", "ODEN", "DANGO", "TAMALE",
             "FALAFEL", "FONDUE", "TEAPOT", "BUBBLE TEA", "BLUEBERRIES", "BELL PEPPER", "FLATBREAD",
             "GINGER", "PEA POD", "BEANS", "CHESTNUT", "PEANUTS", "MUSHROOM", "LEAFY GREEN"],
    "flag": ["FLAG", "REGIONAL INDICATOR"],
    "symbol": ["SIGN", "SYMBOL", "ARROW", "BUTTON", "SQUARED", "CIRCLED", "KEYCAP", "DIGIT", "NUMBER SIGN",
               "ASTERISK", "HEART", "MARK", "ZODIAC", "ARIES", "TAURUS", "GEMINI", "CANCER", "LEO", "VIRGO",
               "LIBRA", "SCORPIUS", "SAGITTARIUS", "CAPRICORN", "AQUARIUS", "PISCES", "OPHIUCHUS", "DOUBLE",
               "SQUARE", "TRIANGLE", "DIAMOND", "CIRCLE", "SPARKLE", "EXCLAMATION", "QUESTION", "CROSS",
               "COPYRIGHT", "REGISTERED", "TRADE MARK", "INFORMATION", "LOOP", "PART ALTERNATION", "MODIFIER"],
}


def fail(msg):
    print(f"make_emoji_dataset: {msg}", file=sys.stderr)
    sys.exit(2)


def char_name(cp):
    return unicodedata.name(chr(cp), f"U+{cp:04X}")


def reachable_sequences(font):
    """glyph name -> the code point sequence that reaches it (cmap first, then the shortest ligature)."""
    cmap = font.getBestCmap()
    seq = {}
    for cp, glyph in sorted(cmap.items()):
        seq.setdefault(glyph, [cp])
    gsub = font["GSUB"].table if "GSUB" in font else None
    if gsub is None:
        return seq
    # Ligatures can build on other ligatures' outputs (e.g. flag tag sequences): repeat until nothing new.
    ligatures = []
    for lookup in gsub.LookupList.Lookup:
        for sub in lookup.SubTable:
            if sub.LookupType == 7:  # extension: unwrap
                sub = sub.ExtSubTable
            if getattr(sub, "LookupType", None) != 4 and not hasattr(sub, "ligatures"):
                continue
            for first, ligs in sub.ligatures.items():
                for lig in ligs:
                    ligatures.append(([first] + list(lig.Component), lig.LigGlyph))
    changed = True
    while changed:
        changed = False
        for components, out in ligatures:
            if all(c in seq for c in components):
                candidate = [cp for c in components for cp in seq[c]]
                if out not in seq or len(candidate) < len(seq[out]):
                    seq[out] = candidate
                    changed = True
    return seq


def label(glyph, cps):
    names = [char_name(cp) for cp in cps if cp not in (ZWJ, VS16)]
    tone = next((SKIN_TONES[cp] for cp in cps if cp in SKIN_TONES), 0)
    if any(0x1F1E6 <= cp <= 0x1F1FF for cp in cps) or any(0xE0020 <= cp <= 0xE007F for cp in cps):
        kind = "flag"
    elif KEYCAP in cps:
        kind = "keycap"
    elif ZWJ in cps:
        kind = "zwj"
    elif len(cps) == 1:
        kind = "modifier" if cps[0] in SKIN_TONES else "single"
    else:
        kind = "sequence"
    content = [cp for cp in cps if cp not in NOT_CONTENT] or list(cps)
    text = " ".join(char_name(cp) for cp in content)
    cats = [c for c, words in CATEGORY_WORDS.items() if any(w in text.split() or (" " in w and w in text)
                                                            for w in words)]
    if len(cats) > 1 and "symbol" in cats:  # "symbol" only for what is nothing else
        cats.remove("symbol")
    if kind == "flag" and "flag" not in cats:
        cats.append("flag")
    if kind == "keycap" and "symbol" not in cats:
        cats.append("symbol")
    if not cats:
        cats = ["object"]
    return {"glyph": glyph, "codepoints": [f"U+{cp:04X}" for cp in cps], "names": names, "skin_tone": tone,
            "kind": kind, "categories": cats}


def render(png_bytes, size, background):
    from PIL import Image
    im = Image.open(io.BytesIO(png_bytes)).convert("RGBA")
    side = max(im.size)
    canvas = Image.new("RGBA", (side, side), background + (255,))
    canvas.alpha_composite(im, ((side - im.size[0]) // 2, (side - im.size[1]) // 2))
    return canvas.convert("RGB").resize((size, size), Image.LANCZOS)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created; existing files are replaced)")
    ap.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    ap.add_argument("--background", default="255,255,255", help="R,G,B of the fixed background (default white)")
    ap.add_argument("--font", default=FONT, help=f"the colour emoji font (default {FONT})")
    ap.add_argument("--limit", type=int, default=0, help="only the first N reachable glyphs (0: all)")
    args = ap.parse_args(argv)
    if not 4 <= args.size <= 1024:
        fail(f"--size {args.size} is outside [4, 1024]")
    try:
        background = tuple(int(v) for v in args.background.split(","))
        assert len(background) == 3 and all(0 <= v <= 255 for v in background)
    except (ValueError, AssertionError):
        fail(f"--background '{args.background}' is not R,G,B with values in [0, 255]")
    if args.limit < 0:
        fail(f"--limit {args.limit} is negative")
    try:
        from fontTools.ttLib import TTFont
        font = TTFont(args.font)
        strike = font["CBDT"].strikeData[0]
    except ImportError as e:
        fail(f"{e}: install python3-fonttools and python3-pil")
    except Exception as e:  # noqa: BLE001 -- any unreadable font is reported the same way
        fail(f"cannot read the CBDT colour bitmaps of {args.font}: {e}")

    seq = reachable_sequences(font)
    order = font.getGlyphOrder()
    glyphs = [g for g in order if g in strike and g in seq]
    if args.limit:
        glyphs = glyphs[:args.limit]
    images = os.path.join(args.out, "images")
    os.makedirs(images, exist_ok=True)
    labels = []
    for i, glyph in enumerate(glyphs):
        name = f"{i:04d}_{glyph}.png"
        tmp = os.path.join(images, f".{name}.tmp")
        render(strike[glyph].imageData, args.size, background).save(tmp, format="PNG")
        os.replace(tmp, os.path.join(images, name))
        labels.append(dict(file=f"images/{name}", **label(glyph, seq[glyph])))
    meta = {"source": os.path.basename(args.font), "package": "fonts-noto-color-emoji", "size": args.size,
            "background": list(background), "count": len(labels),
            "skipped_unreachable": len([g for g in order if g in strike and g not in seq]),
            "categories_note": "keyword rules over Unicode character names (tools/make_emoji_dataset.py)",
            "images": labels}
    tmp = os.path.join(args.out, ".labels.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(args.out, "labels.json"))
    counts = {}
    for item in labels:
        for c in item["categories"]:
            counts[c] = counts.get(c, 0) + 1
    print(f"wrote {len(labels)} images ({args.size}x{args.size}) to {images}; categories "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
