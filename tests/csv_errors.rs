//! Bad CSV input gives one clear error per problem, naming row and column, and the CLI exits
//! non-zero without writing a model set.

use periop::dataset::{Dataset, DatasetError};

const HEADER: &str = "site,age_years,sex,procedure,hemoglobin_g_dl,smoking_status,hypertension,dvt";

fn read(csv: &str) -> Result<Dataset, DatasetError> {
    Dataset::from_reader(csv.as_bytes(), "test.csv")
}

#[test]
fn a_clean_file_reads_with_warnings_for_absent_optional_columns() {
    let data = read(&format!(
        "{HEADER},notes\nsite_a,60,male,lumbar_fusion,13.5,never,1,0,ok\n"
    ))
    .expect("valid");
    assert_eq!(data.records.len(), 1);
    assert!(
        data.warnings.iter().any(|w| w.contains("notes")),
        "{:?}",
        data.warnings
    );
    assert!(data.warnings.iter().any(|w| w.contains("bone_density_hu")));
}

#[test]
fn every_bad_cell_is_reported_with_row_and_column() {
    let csv = format!(
        "{HEADER}\n\
         site_a,60,male,lumbar_fusion,13.5,never,1,0\n\
         site_a,sixty,male,lumbar_fusion,13.5,never,1,0\n\
         site_b,60,male,spinal_fusion,13.5,sometimes,1,0\n\
         site_c,60,male,acdf,42,never,yes,2\n"
    );
    let Err(DatasetError::InvalidRows { errors, .. }) = read(&csv) else {
        panic!("expected row errors")
    };
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (2, "age_years"),
            (3, "procedure"),
            (3, "smoking_status"),
            (4, "hemoglobin_g_dl"),
            (4, "hypertension"),
            (4, "dvt"),
        ]
    );
    let message = DatasetError::InvalidRows {
        path: "test.csv".into(),
        errors,
    }
    .to_string();
    assert!(
        message.contains("row 2 (line 3), column age_years: must be a number"),
        "{message}"
    );
    assert!(
        message.contains("column procedure: must be one of lumbar_discectomy"),
        "{message}"
    );
    assert!(
        message.contains("column hemoglobin_g_dl: must be within 3..=25 g/dL"),
        "{message}"
    );
    assert!(message.contains("6 problem(s)"), "{message}");
}

#[test]
fn a_missing_required_column_is_named() {
    let err = read("age_years,procedure\n60,acdf\n").expect_err("sex is required");
    assert!(
        matches!(&err, DatasetError::MissingColumns { columns, .. } if columns == &vec!["sex".to_string()]),
        "{err}"
    );
}

#[test]
fn the_cli_exits_non_zero_and_prints_each_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("bad.csv");
    std::fs::write(&data, format!("{HEADER}\nsite_a,15,male,lumbar_fusion,13.5,never,1,0\nsite_a,60,other,lumbar_fusion,13.5,never,1,0\n"))
        .expect("write");
    let out = dir.path().join("models");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run periop");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("row 1 (line 2), column age_years: must be within 18..=100"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 2 (line 3), column sex: must be one of female, male"),
        "{stderr}"
    );
    assert!(
        !out.exists(),
        "no model set may be written from invalid data"
    );
}
