//! Metrics on hand-computed cases and edge cases.

use minbert_task::metrics::{
    Metric, Scores, accuracy, average_ranks, f1_for_class, macro_f1, overall, pearson, spearman,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn accuracy_and_f1_by_hand() {
    let gold = [0, 1, 1, 0, 1];
    let pred = [0, 1, 0, 0, 0];
    assert!(close(accuracy(&pred, &gold), 3.0 / 5.0));
    // Class 1: TP 1, FP 0, FN 2 -> 2/(2+0+2) = 0.5. Class 0: TP 2, FP 2, FN 0 -> 4/6.
    assert!(close(f1_for_class(&pred, &gold, 1), 0.5));
    assert!(close(f1_for_class(&pred, &gold, 0), 4.0 / 6.0));
    // Classes 2..4 appear nowhere: 0 each, so macro over 5 = (0.5 + 4/6) / 5.
    assert!(close(macro_f1(&pred, &gold, 5), (0.5 + 4.0 / 6.0) / 5.0));
    assert!(close(macro_f1(&pred, &gold, 2), (0.5 + 4.0 / 6.0) / 2.0));
    assert!(f1_for_class(&[0, 0], &[0, 0], 1).is_nan());
    assert!(accuracy::<usize>(&[], &[]).is_nan());
}

#[test]
fn pearson_by_hand_and_constant_predictions() {
    // x = 1..4, y = 2, 4, 5, 9: mean 2.5 / 5; sxy = 1.5*3+0.5*1+0.5*0+1.5*4 = 11... computed below.
    let x = [1.0, 2.0, 3.0, 4.0];
    let y = [2.0, 4.0, 5.0, 9.0];
    let (dx, dy) = ([-1.5, -0.5, 0.5, 1.5], [-3.0, -1.0, 0.0, 4.0]);
    let sxy: f64 = dx.iter().zip(dy).map(|(a, b)| a * b).sum();
    let expected = sxy / (dx.iter().map(|a| a * a).sum::<f64>() * dy.iter().map(|b| b * b).sum::<f64>()).sqrt();
    assert!(close(pearson(&x, &y), expected));
    assert!(close(expected, 11.0 / (5.0f64 * 26.0).sqrt()));
    assert!(close(pearson(&x, &x), 1.0));
    assert!(pearson(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).is_nan());
    assert!(pearson(&[1.0], &[1.0]).is_nan());
}

#[test]
fn spearman_handles_ties_with_average_ranks() {
    assert_eq!(average_ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
    // Monotone but not linear: rho 1, r below 1.
    let x = [1.0, 2.0, 3.0, 4.0];
    let y = [1.0, 10.0, 100.0, 1000.0];
    assert!(close(spearman(&x, &y), 1.0));
    assert!(pearson(&x, &y) < 0.99);
    // scipy.stats.spearmanr([1,2,2,3], [1,3,2,4]) = 0.9486832980505138
    assert!((spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]) - 0.9486832980505138).abs() < 1e-12);
}

#[test]
fn overall_is_the_course_formula_and_nan_survives_json() {
    assert!(close(overall(0.5, 0.8, 0.6), (0.5 + 0.8 + 0.8) / 3.0));
    let s = Scores::compute((&[0, 1], &[0, 1]), (&[1, 1], &[1, 0]), (&[2.0, 2.0], &[1.0, 3.0]));
    assert!(close(s.sst_acc, 1.0) && close(s.quora_acc, 0.5));
    assert!(s.sts_pearson.is_nan() && s.overall.is_nan());
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"sts_pearson\":null"), "{json}");
    let back: Scores = serde_json::from_str(&json).unwrap();
    assert!(back.sts_pearson.is_nan() && close(back.quora_acc, 0.5));
}

#[test]
fn overall_averages_the_evaluated_tasks() {
    // All three: the course formula.
    let s = Scores::compute(
        (&[0, 1], &[0, 1]),
        (&[1, 1], &[1, 0]),
        (&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]),
    );
    let r = pearson(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
    assert!(close(s.overall, (1.0 + 0.5 + (r + 1.0) / 2.0) / 3.0));
    assert!(close(s.overall, overall(1.0, 0.5, r)));
    // SST only: its accuracy; the others NaN.
    let s = Scores::compute((&[0, 1, 1], &[0, 1, 0]), (&[], &[]), (&[], &[]));
    assert!(close(s.overall, 2.0 / 3.0));
    assert!(s.quora_acc.is_nan() && s.sts_pearson.is_nan());
    assert_eq!(s.get(Metric::SstAcc), s.sst_acc);
}

#[test]
fn metrics_have_one_name_each_for_configs_files_and_flags() {
    for metric in Metric::ALL {
        assert_eq!(metric.name().parse::<Metric>(), Ok(metric));
        let json = serde_json::to_string(&metric).unwrap();
        assert_eq!(json, format!("\"{}\"", metric.name()));
        assert_eq!(metric.to_string(), metric.name());
        // A metric belongs to the task its name starts with (Quora is the `para` task).
        let prefix = metric.name().split('_').next().unwrap();
        let task = metric
            .task()
            .map(|t| if t.name() == "para" { "quora" } else { t.name() });
        assert_eq!(task.unwrap_or("overall"), prefix, "{metric}");
    }
    let err = "sst_f1".parse::<Metric>().unwrap_err();
    assert!(err.contains("sst_f1") && err.contains("sst_macro_f1"), "{err}");
}
