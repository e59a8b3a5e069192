//! The outcomes periop models (`features.md`, Outcomes): one model each, each with the population
//! it was trained on. A patient outside an outcome's population gets `not_applicable` with the
//! reason; no model ever answers for a population it was not trained on.

use serde::{Deserialize, Serialize};

use crate::features::Patient;

/// What kind of number an outcome is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// A calibrated probability (binary LightGBM model).
    Probability,
    /// A quantity in mL: median from a log-scale regression, 10th/90th percentiles from quantile models.
    Quantity,
}

/// The accepted range of an observed blood loss, in mL (registry CSVs and recorded outcomes).
pub const BLOOD_LOSS_RANGE_ML: (f64, f64) = (1.0, 50_000.0);

/// One modelled outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    BloodLossMl,
    MassiveBloodLoss,
    ScrewLoosening,
    CsfLeak,
    Dvt,
    Delirium,
    ProlongedLos,
    NonhomeDischarge,
    Readmission30d,
    OdiMcidFailure,
    AcdfInpatientConversion,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 11] = [
        Self::BloodLossMl,
        Self::MassiveBloodLoss,
        Self::ScrewLoosening,
        Self::CsfLeak,
        Self::Dvt,
        Self::Delirium,
        Self::ProlongedLos,
        Self::NonhomeDischarge,
        Self::Readmission30d,
        Self::OdiMcidFailure,
        Self::AcdfInpatientConversion,
    ];

    /// The stable id (CSV column, manifest and API name).
    pub fn id(self) -> &'static str {
        match self {
            Self::BloodLossMl => "blood_loss_ml",
            Self::MassiveBloodLoss => "massive_blood_loss",
            Self::ScrewLoosening => "screw_loosening",
            Self::CsfLeak => "csf_leak",
            Self::Dvt => "dvt",
            Self::Delirium => "delirium",
            Self::ProlongedLos => "prolonged_los",
            Self::NonhomeDischarge => "nonhome_discharge",
            Self::Readmission30d => "readmission_30d",
            Self::OdiMcidFailure => "odi_mcid_failure",
            Self::AcdfInpatientConversion => "acdf_inpatient_conversion",
        }
    }

    /// Looks an outcome up by id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.id() == id)
    }

    pub fn kind(self) -> OutcomeKind {
        match self {
            Self::BloodLossMl => OutcomeKind::Quantity,
            _ => OutcomeKind::Probability,
        }
    }

    /// A short clinical name for cards and pages ("DVT", "30-day readmission").
    pub fn short_name(self) -> &'static str {
        match self {
            Self::BloodLossMl => "Blood loss",
            Self::MassiveBloodLoss => "Massive blood loss",
            Self::ScrewLoosening => "Screw loosening",
            Self::CsfLeak => "CSF leak",
            Self::Dvt => "DVT",
            Self::Delirium => "Delirium",
            Self::ProlongedLos => "Prolonged stay",
            Self::NonhomeDischarge => "Non-home discharge",
            Self::Readmission30d => "30-day readmission",
            Self::OdiMcidFailure => "No ODI improvement",
            Self::AcdfInpatientConversion => "ACDF inpatient stay",
        }
    }

    /// Plain-language definition (model cards, API).
    pub fn definition(self) -> &'static str {
        match self {
            Self::BloodLossMl => "Intraoperative estimated blood loss (mL): median and 80 % interval",
            Self::MassiveBloodLoss => "Estimated blood loss of 2500 mL or more",
            Self::ScrewLoosening => "Radiographic pedicle screw loosening at 12 months",
            Self::CsfLeak => "Postoperative cerebrospinal fluid leakage",
            Self::Dvt => "Deep vein thrombosis on in-hospital duplex screening",
            Self::Delirium => "Postoperative delirium",
            Self::ProlongedLos => "Length of stay at or above the cohort's 75th percentile",
            Self::NonhomeDischarge => "Discharge to rehabilitation, skilled nursing or another facility",
            Self::Readmission30d => "Unplanned readmission within 30 days",
            Self::OdiMcidFailure => "12-month ODI not improved by the MCID (discectomy: < 22 points; decompression/fusion: < 30 % of baseline)",
            Self::AcdfInpatientConversion => "Stay over 48 h despite a planned ambulatory ACDF",
        }
    }

    /// The population the model is trained on and answers for.
    pub fn population(self) -> &'static str {
        match self {
            Self::ScrewLoosening | Self::CsfLeak => "lumbar_fusion",
            Self::OdiMcidFailure => "lumbar_discectomy, lumbar_decompression, lumbar_fusion",
            Self::AcdfInpatientConversion => "acdf with ambulatory_planned",
            _ => "all procedures",
        }
    }

    /// `Ok(())` when the outcome applies to the patient, else the reason it does not.
    pub fn applies_to(self, patient: &Patient) -> Result<(), String> {
        let procedure = patient.level("procedure").unwrap_or("unknown");
        match self {
            Self::ScrewLoosening | Self::CsfLeak if procedure != "lumbar_fusion" => {
                Err(format!("model trained on lumbar_fusion only; procedure is {procedure}"))
            }
            Self::OdiMcidFailure
                if !matches!(procedure, "lumbar_discectomy" | "lumbar_decompression" | "lumbar_fusion") =>
            {
                Err(format!("model trained on lumbar discectomy, decompression and fusion only; procedure is {procedure}"))
            }
            Self::AcdfInpatientConversion if procedure != "acdf" => {
                Err(format!("model trained on planned ambulatory ACDF only; procedure is {procedure}"))
            }
            Self::AcdfInpatientConversion if !patient.flag("ambulatory_planned") => {
                Err("model trained on planned ambulatory ACDF only; ambulatory_planned is not true".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Column of the ground-truth probability (or, for blood loss, true median) in synthetic data.
    pub fn truth_column(self) -> String {
        format!("p_true_{}", self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_id(o.id()), Some(o));
        }
    }

    #[test]
    fn screw_loosening_is_not_applicable_to_an_acdf() {
        let mut p = Patient::empty();
        p.set("procedure", Some(3.0));
        assert!(Outcome::ScrewLoosening.applies_to(&p).is_err());
        assert!(Outcome::Dvt.applies_to(&p).is_ok());
        assert!(Outcome::AcdfInpatientConversion.applies_to(&p).is_err());
        p.set("ambulatory_planned", Some(1.0));
        assert!(Outcome::AcdfInpatientConversion.applies_to(&p).is_ok());
    }
}
