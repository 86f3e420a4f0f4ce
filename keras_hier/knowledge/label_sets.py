"""Label sets of the multi-label zero-shot benchmarks: MS-COCO 80 and NUS-WIDE 81, with WordNet synsets and the
seen / unseen splits of Huang et al. (the official `multi_label_zsl` code).

The official code maps a class name to `<lemma>.n.01` (with a few special cases), which picks the wrong sense
for some names (COCO "kite" becomes a fraudulent bank check, "mouse" the rodent; NUS-WIDE "tiger" a fierce
person). keras_hier's tables give the sense an annotator meant; `OFFICIAL_SENSES` lists the names where the
official rule differs, so `{**COCO_SYNSETS, **OFFICIAL_SENSES["coco"]}` reproduces the official graph.
"""

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

# The sense meant; "<lemma>.n.01" unless noted.
COCO_SYNSETS = {
    **{name: name.replace(" ", "_") + ".n.01" for name in COCO_CLASSES},
    "skis": "ski.n.01",
    "stop sign": "street_sign.n.01",
    "sports ball": "ball.n.01",
    "kite": "kite.n.03",
    "wine glass": "glass.n.02",
    "banana": "banana.n.02",
    "broccoli": "broccoli.n.02",
    "hot dog": "hot_dog.n.02",
    "cake": "cake.n.03",
    "potted plant": "pot_plant.n.01",
    "toilet": "toilet.n.02",
    "tv": "television_receiver.n.01",
    "mouse": "mouse.n.04",
    "remote": "remote_control.n.01",
    "keyboard": "computer_keyboard.n.01",
    "cell phone": "cellphone.n.01",
    "microwave": "microwave.n.02",
    "toaster": "toaster.n.02",
}

COCO_UNSEEN = (
    "bicycle", "boat", "stop sign", "bird", "backpack", "frisbee", "snowboard", "surfboard", "cup", "fork", "spoon",
    "broccoli", "chair", "keyboard", "microwave", "vase",
)

NUS_WIDE_CLASSES = (
    "airport", "animal", "beach", "bear", "birds", "boats", "book", "bridge", "buildings", "cars", "castle", "cat",
    "cityscape", "clouds", "computer", "coral", "cow", "dancing", "dog", "earthquake", "elk", "fire", "fish", "flags",
    "flowers", "food", "fox", "frost", "garden", "glacier", "grass", "harbor", "horses", "house", "lake", "leaf",
    "map", "military", "moon", "mountain", "nighttime", "ocean", "person", "plane", "plants", "police", "protest",
    "railroad", "rainbow", "reflection", "road", "rocks", "running", "sand", "sign", "sky", "snow", "soccer",
    "sports", "statue", "street", "sun", "sunset", "surf", "swimmers", "tattoo", "temple", "tiger", "tower", "town",
    "toy", "train", "tree", "valley", "vehicle", "water", "waterfall", "wedding", "whales", "window", "zebra",
)

_NUS_SINGULAR = {"birds": "bird", "boats": "boat", "buildings": "building", "cars": "car", "clouds": "cloud",
                 "flags": "flag", "flowers": "flower", "horses": "horse", "plants": "plant", "rocks": "rock",
                 "sports": "sport", "swimmers": "swimmer", "whales": "whale"}
NUS_WIDE_SYNSETS = {
    **{name: _NUS_SINGULAR.get(name, name) + ".n.01" for name in NUS_WIDE_CLASSES},
    "castle": "castle.n.02",
    "clouds": "cloud.n.02",
    "coral": "coral.n.04",
    "plants": "plant.n.02",
    "protest": "protest.n.02",
    "railroad": "railroad_track.n.01",
    "reflection": "reflection.n.05",
    "running": "run.n.07",
    "sign": "sign.n.02",
    "sunset": "sunset.n.03",
    "tattoo": "tattoo.n.02",
    "tiger": "tiger.n.02",
    "whales": "whale.n.02",
}

NUS_WIDE_UNSEEN = (
    "sun", "fox", "rainbow", "waterfall", "food", "train", "cars", "frost", "airport", "garden", "water", "protest",
    "window", "police", "tattoo", "mountain",
)

# Where the official rule (<lemma>.n.01, its special cases) takes another synset than the tables above.
OFFICIAL_SENSES = {
    "coco": {
        "stop sign": "stop.n.05", "kite": "kite.n.01", "banana": "banana.n.01", "broccoli": "broccoli.n.01",
        "cake": "cake.n.01", "potted plant": "plant.n.02", "toilet": "toilet.n.01", "tv": "television.n.01",
        "mouse": "mouse.n.01", "remote": "remote.n.01", "keyboard": "keyboard.n.01", "microwave": "microwave.n.01",
        "toaster": "toaster.n.01",
    },
    "nus_wide": {
        "castle": "castle.n.01", "clouds": "cloud.n.01", "coral": "coral.n.01", "plants": "plant.n.01",
        "protest": "protest.n.01", "railroad": "railroad.n.01", "reflection": "reflection.n.01",
        "running": "running.n.01", "sign": "sign.n.01", "sunset": "sunset.n.01", "tattoo": "tattoo.n.01",
        "tiger": "tiger.n.01", "whales": "whale.n.01",
    },
}
