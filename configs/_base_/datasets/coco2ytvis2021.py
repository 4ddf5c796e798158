# COCO category id -> YouTube-VIS 2021 category id (1-based, the order of mmdet's 2021 classes); the
# official code carries it commented out next to the 2019 table (bicycle/motorcycle -> motorbike).
coco2ytvis2021 = {
    1: 26, 2: 23, 3: 5, 4: 23, 5: 1, 7: 36, 8: 37, 9: 4, 16: 3, 17: 6, 18: 9, 19: 19, 21: 7, 22: 12, 23: 2,
    24: 40, 25: 18, 36: 31, 41: 29, 42: 33, 43: 34, 74: 24
}
