//! The 256 words of a short code (PROTOCOL.md §4.6.3). Written for sxfer:
//! lowercase ASCII, 4 to 7 letters, concrete and easy to spell, no two
//! sharing their first three letters (so a typo rarely lands on another
//! word), sorted so a word's index is found by binary search. One word is
//! one byte: 8 bits of the code's secret.
//!
//! Never reorder or edit: a code is these indices, and both peers must hold
//! the same list.

pub const WORDS: [&str; 256] = [
    "acorn", "agent", "alpine", "amber", "anchor", "ankle", "april", "arena", "arrow", "atlas", "autumn", "bacon",
    "bagel", "balloon", "bamboo", "barley", "beacon", "bench", "bicycle", "birch", "blanket", "bobcat", "border",
    "boulder", "bread", "bronze", "bubble", "bucket", "bugle", "burrow", "cabin", "camel", "captain", "castle",
    "cello", "chalk", "chimney", "cider", "circus", "cliff", "cobalt", "cocoa", "comet", "coral", "cougar", "coyote",
    "cricket", "cupcake", "curtain", "cyclone", "daisy", "dawn", "delta", "desert", "diesel", "dipper", "doctor",
    "domino", "door", "eagle", "echo", "eight", "elder", "emerald", "envoy", "escape", "estate", "expert", "fable",
    "falcon", "farmer", "feather", "ferry", "fiddle", "finch", "flute", "forest", "frame", "fruit", "funnel", "galaxy",
    "garden", "gecko", "geyser", "ginger", "glacier", "gopher", "gourd", "green", "grove", "guitar", "hammer",
    "harbor", "heart", "helmet", "hero", "hiking", "hobby", "holly", "horizon", "hound", "hunter", "hybrid", "igloo",
    "impact", "insect", "ivory", "jaguar", "jasmine", "jelly", "jewel", "jockey", "judge", "jumbo", "karate", "kernel",
    "kettle", "kiosk", "knife", "label", "lagoon", "laptop", "latch", "leopard", "linen", "lizard", "lobster", "lodge",
    "lotus", "lyric", "mango", "marble", "medal", "mentor", "meteor", "mirror", "mitten", "mixer", "monkey", "mosaic",
    "muffin", "museum", "narwhal", "nectar", "network", "night", "noodle", "novel", "number", "nurse", "nylon",
    "oatmeal", "octopus", "olive", "opera", "orbit", "organ", "ostrich", "outdoor", "oyster", "paddle", "palace",
    "panda", "parade", "peach", "pelican", "pepper", "picnic", "pillow", "pirate", "pizza", "pocket", "popcorn",
    "powder", "prism", "pulse", "pumpkin", "puzzle", "quail", "quota", "raccoon", "ranch", "razor", "reef", "rhino",
    "ribbon", "river", "rocket", "rover", "rudder", "ruler", "runway", "saddle", "safari", "sailor", "sandal", "satin",
    "school", "season", "shield", "shrimp", "signal", "siren", "sister", "skate", "sleigh", "smile", "soccer",
    "sonnet", "spider", "spoon", "squid", "stone", "summer", "sweater", "syrup", "table", "talent", "tango", "tavern",
    "temple", "thistle", "ticket", "timber", "toast", "tonic", "torch", "tractor", "tulip", "turkey", "tuxedo",
    "uncle", "unicorn", "valley", "vapor", "venue", "viking", "violin", "vocal", "volcano", "vulture", "walnut",
    "water", "weasel", "whale", "whistle", "willow", "wizard", "wonder", "wreath", "yellow", "yeti", "yodel", "zenith",
    "zigzag", "zipper",
];
