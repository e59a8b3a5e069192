use lightgbm3::{Booster, Dataset};
use serde_json::json;

#[test]
fn probe() {
    let n = 2000;
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut s: u64 = 1;
    let mut r = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((s >> 11) as f64) / ((1u64 << 53) as f64) };
    for _ in 0..n {
        let a = r(); let b = r(); let c = (r() * 6.0).floor();
        x.extend([a, b, c]);
        y.push(if (c == 2.0 || c == 4.0) ^ (a > 0.5) { 1.0f32 } else { 0.0 });
    }
    for cat in [json!("2"), json!(2), json!("name:x")] {
        let ds = Dataset::from_slice(&x, &y, 3, true).unwrap();
        let p = json!({"objective": "binary", "num_iterations": 3, "verbose": -1, "num_threads": 1, "categorical_feature": cat});
        match Booster::train(ds, &p) {
            Ok(b) => { let t = b.save_string().unwrap(); println!("cat={cat}: {}", t.lines().filter(|l| l.starts_with("num_cat") || l.starts_with("feature_infos") || l.starts_with("decision_type") || l.starts_with("[categorical")).collect::<Vec<_>>().join("\n")); }
            Err(e) => println!("cat={cat}: error {e}"),
        }
    }
}
