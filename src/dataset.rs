//! Reading a cohort CSV (training, evaluation, synthetic or registry data) into validated records.
//!
//! Every problem is reported with its row (1-based data row; the header is line 1, so data row `r`
//! is line `r + 1`), its column and the constraint; all rows are checked before failing so a data
//! team sees every problem at once. Extra columns are ignored with a warning.

use std::fmt;
use std::path::Path;

use crate::features::dictionary::{feature_index, FEATURES};
use crate::features::{Constraint, Patient, ValidationError};
use crate::outcomes::{Outcome, OutcomeKind, BLOOD_LOSS_RANGE_ML};

/// One row of a cohort file.
#[derive(Debug, Clone)]
pub struct Record {
    pub patient: Patient,
    /// Contributing hospital (validation splits and per-site reports only; never a model input).
    pub site: Option<String>,
    /// Observed outcomes in [`Outcome::ALL`] order; `None` outside the population or unrecorded.
    pub outcomes: [Option<f64>; 11],
    /// `p_true_<outcome>` columns of synthetic data, in [`Outcome::ALL`] order.
    pub truth: [Option<f64>; 11],
}

/// A problem in one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub row: usize,
    pub column: String,
    pub constraint: Constraint,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {} (line {}), column {}: {}",
            self.row,
            self.row + 1,
            self.column,
            self.constraint
        )
    }
}

/// Why a cohort file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("malformed CSV in {path}: {source}")]
    Csv { path: String, source: csv::Error },
    #[error("{path}: missing required column(s): {}", columns.join(", "))]
    MissingColumns { path: String, columns: Vec<String> },
    #[error("{path}: {} problem(s):\n  {}{}", errors.len(), errors.iter().take(MAX_SHOWN).map(ToString::to_string).collect::<Vec<_>>().join("\n  "), if errors.len() > MAX_SHOWN { format!("\n  ... and {} more", errors.len() - MAX_SHOWN) } else { String::new() })]
    InvalidRows { path: String, errors: Vec<RowError> },
}

const MAX_SHOWN: usize = 50;

/// A validated cohort file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub records: Vec<Record>,
    /// Non-fatal notes: ignored extra columns, absent optional columns.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Reads and validates a cohort CSV.
    ///
    /// # Errors
    /// I/O and CSV syntax errors, missing required columns, and every invalid cell.
    pub fn read(path: &Path) -> Result<Self, DatasetError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_reader(file, &shown)
    }

    /// As [`Dataset::read`], from any reader; `name` is used in messages.
    ///
    /// # Errors
    /// As [`Dataset::read`].
    pub fn from_reader(reader: impl std::io::Read, name: &str) -> Result<Self, DatasetError> {
        let csv_err = |source| DatasetError::Csv {
            path: name.to_string(),
            source,
        };
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let headers = csv.headers().map_err(csv_err)?.clone();
        let mut warnings = Vec::new();
        let mut feature_columns = Vec::new();
        let mut outcome_columns = Vec::new();
        let mut truth_columns = Vec::new();
        let mut site_column = None;
        for (col, name) in headers.iter().enumerate() {
            if let Some(index) = feature_index(name) {
                feature_columns.push((col, index));
            } else if let Some(o) = Outcome::from_id(name) {
                outcome_columns.push((col, o));
            } else if let Some(o) = name.strip_prefix("p_true_").and_then(Outcome::from_id) {
                truth_columns.push((col, o));
            } else if name == "site" {
                site_column = Some(col);
            } else {
                warnings.push(format!(
                    "column {name} is not in the feature dictionary: ignored"
                ));
            }
        }
        let missing: Vec<String> = FEATURES
            .iter()
            .enumerate()
            .filter(|(i, _)| !feature_columns.iter().any(|(_, f)| f == i))
            .filter(|(_, f)| f.required)
            .map(|(_, f)| f.name.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(DatasetError::MissingColumns {
                path: name.to_string(),
                columns: missing,
            });
        }
        for (i, f) in FEATURES.iter().enumerate() {
            if !f.required && !feature_columns.iter().any(|(_, fi)| *fi == i) {
                warnings.push(format!(
                    "optional column {} is absent: missing in every row",
                    f.name
                ));
            }
        }
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for (r, row) in csv.records().enumerate() {
            let row_number = r + 1;
            let row = row.map_err(csv_err)?;
            let cells = feature_columns
                .iter()
                .map(|&(col, index)| (index, row.get(col).unwrap_or("")));
            let patient = match Patient::from_csv_cells(cells) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.extend(e.errors.into_iter().map(|fe| RowError {
                        row: row_number,
                        column: fe.field,
                        constraint: fe.constraint,
                    }));
                    None
                }
            };
            let mut outcomes = [None; 11];
            for &(col, o) in &outcome_columns {
                match parse_outcome(o, row.get(col).unwrap_or("")) {
                    Ok(v) => outcomes[index_of(o)] = v,
                    Err(constraint) => errors.push(RowError {
                        row: row_number,
                        column: o.id().to_string(),
                        constraint,
                    }),
                }
            }
            let mut truth = [None; 11];
            for &(col, o) in &truth_columns {
                let cell = row.get(col).unwrap_or("").trim();
                if cell.is_empty() {
                    continue;
                }
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => truth[index_of(o)] = Some(v),
                    _ => errors.push(RowError {
                        row: row_number,
                        column: o.truth_column(),
                        constraint: Constraint::WrongType {
                            expected: "a number",
                        },
                    }),
                }
            }
            if let Some(patient) = patient {
                let site = site_column
                    .and_then(|c| row.get(c))
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
                records.push(Record {
                    patient,
                    site,
                    outcomes,
                    truth,
                });
            }
        }
        if errors.is_empty() {
            Ok(Self { records, warnings })
        } else {
            Err(DatasetError::InvalidRows {
                path: name.to_string(),
                errors,
            })
        }
    }
}

/// The dictionary columns of a patient CSV header, for reading rows one at a time (`periop
/// score`): a bad row is reported on its own instead of failing the whole file as
/// [`Dataset::read`] does. Same cell parsing and validation as [`Dataset::read`].
#[derive(Debug, Clone)]
pub struct PatientColumns {
    /// `(CSV column, dictionary index)` pairs.
    columns: Vec<(usize, usize)>,
    /// Header names that are not dictionary features (ignored).
    pub ignored: Vec<String>,
}

impl PatientColumns {
    /// Maps a header row to dictionary features.
    ///
    /// # Errors
    /// The names of required features with no column.
    pub fn from_headers(headers: &csv::StringRecord) -> Result<Self, Vec<String>> {
        let mut columns = Vec::new();
        let mut ignored = Vec::new();
        for (col, name) in headers.iter().enumerate() {
            match feature_index(name) {
                Some(index) => columns.push((col, index)),
                None => ignored.push(name.to_string()),
            }
        }
        let missing: Vec<String> = FEATURES
            .iter()
            .enumerate()
            .filter(|(i, f)| f.required && !columns.iter().any(|(_, fi)| fi == i))
            .map(|(_, f)| f.name.to_string())
            .collect();
        if missing.is_empty() {
            Ok(Self { columns, ignored })
        } else {
            Err(missing)
        }
    }

    /// Parses and validates the patient of one row (cells beyond the row's end are empty).
    ///
    /// # Errors
    /// Every invalid cell, named by its column.
    pub fn patient(&self, row: &csv::StringRecord) -> Result<Patient, ValidationError> {
        Patient::from_csv_cells(
            self.columns
                .iter()
                .map(|&(col, index)| (index, row.get(col).unwrap_or(""))),
        )
    }
}

/// Position of an outcome in [`Outcome::ALL`].
pub fn index_of(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)
}

fn parse_outcome(outcome: Outcome, cell: &str) -> Result<Option<f64>, Constraint> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    match outcome.kind() {
        OutcomeKind::Probability => match cell {
            "0" => Ok(Some(0.0)),
            "1" => Ok(Some(1.0)),
            _ => Err(Constraint::WrongType { expected: "0 or 1" }),
        },
        OutcomeKind::Quantity => match cell.parse::<f64>() {
            Ok(v)
                if v.is_finite()
                    && (BLOOD_LOSS_RANGE_ML.0..=BLOOD_LOSS_RANGE_ML.1).contains(&v) =>
            {
                Ok(Some(v))
            }
            Ok(_) => Err(Constraint::OutOfRange {
                min: BLOOD_LOSS_RANGE_ML.0,
                max: BLOOD_LOSS_RANGE_ML.1,
                unit: Some("mL"),
            }),
            Err(_) => Err(Constraint::WrongType {
                expected: "a number",
            }),
        },
    }
}
