//! periop: a perioperative risk engine for spine surgery.
//!
//! Offline: [`synth`] (synthetic cohort) → [`train`] (LightGBM + calibration) → [`evaluate`]
//! (metrics, model cards, plots) → a model set directory. Online: [`features`] (validate and
//! derive) → [`model`] (native ensemble: predict + exact TreeSHAP).

pub mod api;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dataset;
pub mod ehr;
pub mod evaluate;
pub mod features;
pub mod metrics;
pub mod model;
pub mod outcomes;
pub mod quality_report;
pub mod rules;
pub mod service;
pub mod startup;
pub mod synth;
pub mod telemetry;
pub mod train;
