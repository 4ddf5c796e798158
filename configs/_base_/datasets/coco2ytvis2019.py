# COCO category id -> YouTube-VIS 2019 category id (1-based, the order of mmdet's 2019 classes), the
# table of the official joint training (datasets/coco2seq.py). Kept verbatim, quirks included: bicycle
# and motorcycle -> motorbike, car -> sedan, and COCO's computer "mouse" (74) -> 24, which is "fox" in 2019
# (24 is "mouse" in the 2021 numbering; the official 2019 table seems to have inherited it).
coco2ytvis2019 = {
    1: 1, 2: 21, 3: 6, 4: 21, 5: 28, 7: 17, 8: 29, 9: 34, 17: 14, 18: 8, 19: 18, 21: 15, 22: 32, 23: 20, 24: 30,
    25: 22, 36: 33, 41: 5, 42: 27, 43: 40, 74: 24
}
