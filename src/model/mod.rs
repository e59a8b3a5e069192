//! The serving side of a model set: manifests and hashes, calibration, the LightGBM text-format
//! reader, the immutable `Send + Sync` native ensemble that predicts and explains (TreeSHAP), and
//! the recorded training distribution of the inputs; and local recalibration of a set's
//! calibration maps into a new set version (same trees).
//! Nothing here links LightGBM's `Booster`: only training and the verification tests do.

pub mod calibration;
pub mod ensemble;
pub mod error;
pub mod lgb_text;
pub mod lgb_tree;
pub mod manifest;
pub mod model_set;
pub mod native;
pub mod recalibrated_set;
pub mod recalibration;
pub mod shap_rs_oracle;
pub mod shap_table;
pub mod training_distribution;
