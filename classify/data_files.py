"""The packaged data files the classify commands read by default."""

from common.yaml_load import package_file

DEV_SET = package_file("classify", "data/dev.jsonl")
TRAIN_ONLY = package_file("classify", "data/train_extra.jsonl.gz")
EXTERNAL_OMSK = package_file("classify", "data/external_omsk.jsonl")
MODEL_PATH = package_file("classify", "data/model.joblib")
