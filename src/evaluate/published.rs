//! Published performance of comparable models (`shared/clinical/evidence.md` §4, "Paper's table"),
//! hard-coded so every model card can show them beside the synthetic benchmark. Values are copied
//! as published ([V] in evidence.md); "not extracted" marks values evidence.md lists as pending.
//! Compare qualitatively: populations, endpoints and test sets differ (evidence.md §5).

use serde::Serialize;

use crate::outcomes::Outcome;

/// One published model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Published {
    pub paper: &'static str,
    /// Endpoint and population when they differ from periop's outcome.
    pub endpoint: &'static str,
    /// Patients (events) as published.
    pub n: &'static str,
    pub internal_auc: &'static str,
    pub external_auc: &'static str,
    pub note: &'static str,
}

const fn row(
    paper: &'static str,
    endpoint: &'static str,
    n: &'static str,
    internal_auc: &'static str,
    external_auc: &'static str,
    note: &'static str,
) -> Published {
    Published {
        paper,
        endpoint,
        n,
        internal_auc,
        external_auc,
        note,
    }
}

const BLOOD_LOSS: &[Published] = &[row(
    "PUMCH/West China (ranger RF)",
    "EBL >= 500 mL, all spine surgery",
    "3944 + 843",
    "0.814",
    "0.820",
    "binary threshold, not a quantity model",
)];

const MASSIVE: &[Published] = &[
    row(
        "Shi et al., Spine J 2024 (XGBoost)",
        "EBL > 2500 mL, metastatic",
        "276",
        "0.857 (0.827-0.877)",
        "0.809 (0.778-0.860), China",
        "reported poor in 880 US/UK/NL patients",
    ),
    row(
        "JS9 multicentre radiomics",
        "EBL >= 2500 mL, metastatic",
        "702",
        "clinical 0.735; +radiomics 0.901",
        "clinical 0.604; +radiomics 0.885",
        "",
    ),
    row(
        "Research Square rs-7843835",
        "EBL >= 2500 mL",
        "507",
        "clinical 0.837; MLP 0.801",
        "-",
        "preprint",
    ),
];

const SCREW: &[Published] = &[
    row(
        "HU-ratio/PBQ nomogram (doi 10.1177/21925682261433949)",
        "screw loosening",
        "313 (45)",
        "0.904 apparent / 0.883 corrected",
        "-",
        "HL p 0.393",
    ),
    row(
        "L1/pedicle/S1 HU studies (LR, single marker)",
        "screw loosening",
        "275-285",
        "0.75-0.77",
        "-",
        "",
    ),
    row(
        "Jiang et al., BioSci Trends 2024 (AutoML)",
        "screw loosening",
        "not extracted",
        "not extracted",
        "not extracted",
        "full text pending",
    ),
];

const CSF: &[Published] = &[row(
    "Guo et al., Spine 2024 (XGBoost)",
    "CSF leak, lumbar fusion",
    "3505 (95)",
    "0.734",
    "none",
    "resampled (SMOTE) test set: compare qualitatively",
)];

const DVT: &[Published] = &[
    row(
        "NSQIP single-level PLF (PMC10189318)",
        "VTE, single-level PLF",
        "13,500",
        "0.716",
        "-",
        "event rate 0.95 %",
    ),
    row(
        "Siriraj Med J (GBT)",
        "VTE 90 d, spinal metastasis",
        "334",
        "0.77 (preoperative)",
        "-",
        "",
    ),
    row(
        "Wu et al., IJMI 2024",
        "DVT after spinal surgery",
        "500 + 150 ext",
        "not extracted",
        "not extracted",
        "full text pending",
    ),
];

const DELIRIUM: &[Published] = &[row(
    "Zhang et al., CNS Neurosci Ther 2023 (XGBoost)",
    "postoperative delirium",
    "663 + 49 prospective",
    "not extracted",
    "not extracted",
    "full text pending",
)];

const PROLONGED_LOS: &[Published] = &[
    row(
        "LSS nomogram, BMC MSK 2023 (LR)",
        "LOS >= P75, lumbar spinal stenosis",
        "540 (196)",
        "0.812",
        "0.830 (validation set)",
        "",
    ),
    row(
        "NSQIP ML",
        "prolonged LOS, lumbar fusion",
        "63,533",
        "0.673-0.752",
        "-",
        "",
    ),
];

const NONHOME: &[Published] = &[row(
    "NSQIP, PLOS One 2023 (LightGBM)",
    "non-home discharge, posterior cervical fusion",
    "6277",
    "mean 0.812",
    "-",
    "",
)];

const READMISSION: &[Published] = &[
    row(
        "Gonzalez-Suarez, Neurospine 2024 (GBM)",
        "30-d readmission, PCF",
        "4130 (874)",
        "0.846 (MLR 0.829)",
        "-",
        "uses post-operative/administrative features",
    ),
    row(
        "NSQIP neural network",
        "30-d readmission, lumbar fusion",
        "63,533",
        "0.64-0.65",
        "-",
        "",
    ),
];

const ODI: &[Published] = &[row(
    "Berg et al., JAMA Netw Open 2024",
    "ODI non-success (change < 22) at 12 months",
    "22,707",
    "IECV C 0.81-0.84, pooled 0.82",
    "0.76-0.81 (NOR/Swe/Dane)",
    "slope 0.99 (0.93-1.06); intercept -0.05 to 0.11",
)];

const ACDF: &[Published] = &[
    row(
        "APSS, JAAOS 2021 (lasso)",
        "LOS >= 2 midnights, 1-2-level ACDF",
        "2159 (643)",
        "0.68",
        "-",
        "",
    ),
    row(
        "Schönnagel et al., Spine J 2024 (XGBoost)",
        "ambulatory ACDF converted to inpatient",
        "not extracted",
        "not extracted",
        "not extracted",
        "full text pending",
    ),
];

/// Published rows for an outcome.
pub fn published_for(outcome: Outcome) -> &'static [Published] {
    match outcome {
        Outcome::BloodLossMl => BLOOD_LOSS,
        Outcome::MassiveBloodLoss => MASSIVE,
        Outcome::ScrewLoosening => SCREW,
        Outcome::CsfLeak => CSF,
        Outcome::Dvt => DVT,
        Outcome::Delirium => DELIRIUM,
        Outcome::ProlongedLos => PROLONGED_LOS,
        Outcome::NonhomeDischarge => NONHOME,
        Outcome::Readmission30d => READMISSION,
        Outcome::OdiMcidFailure => ODI,
        Outcome::AcdfInpatientConversion => ACDF,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_published_comparison() {
        for o in Outcome::ALL {
            assert!(!published_for(o).is_empty(), "{}", o.id());
        }
        assert!(published_for(Outcome::OdiMcidFailure)[0]
            .internal_auc
            .contains("0.82"));
    }
}
