//! Prediction files round-trip in the course's exact format; ensembles average as promised.

use minbert_eval::ensemble::{
    MAX_EXHAUSTIVE_MEMBERS, TaskOutputs, average, best_subset_select, greedy_select, merge_tasks, normalise_weights,
};
use minbert_eval::predictions::{PredictionTask, read, render, write, write_outputs};

#[test]
fn prediction_files_use_the_course_format_and_parse_back() {
    let preds = vec![("abc".to_string(), 3usize), ("def".to_string(), 0)];
    assert_eq!(
        render(PredictionTask::Sst, &preds),
        "id \t Predicted_Sentiment \nabc , 3 \ndef , 0 \n"
    );
    let scores = vec![("x1".to_string(), 4.25f64), ("x2".to_string(), 0.5)];
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join(PredictionTask::Sts.file_name("dev"));
    assert!(path.ends_with("sts-dev-output.csv"));
    write(&path, PredictionTask::Sts, &scores).unwrap();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("id \t Predicted_Similiary \n")
    );
    assert_eq!(read(&path, PredictionTask::Sts).unwrap(), scores);
    let err = read(&path, PredictionTask::Para).unwrap_err().to_string();
    assert!(
        err.contains("sts-dev-output.csv:1") && err.contains("Predicted_Is_Paraphrase"),
        "{err}"
    );
    std::fs::write(&path, "id \t Predicted_Similiary \nx1 , oops \n").unwrap();
    let err = read(&path, PredictionTask::Sts).unwrap_err().to_string();
    assert!(err.contains(":2:") && err.contains("not a number"), "{err}");
}

fn member(shift: f64) -> TaskOutputs {
    TaskOutputs {
        sst_ids: vec!["s1".into(), "s2".into()],
        sst_probs: vec![[0.1 + shift, 0.2, 0.3, 0.2, 0.2 - shift], [0.6, 0.1, 0.1, 0.1, 0.1]],
        para_ids: vec!["p1".into()],
        para_probs: vec![0.4 + shift],
        sts_ids: vec!["t1".into(), "t2".into()],
        sts_scores: vec![1.0 + shift, 4.0],
    }
}

#[test]
fn an_ensemble_of_one_or_of_copies_equals_the_member() {
    let a = member(0.0);
    assert_eq!(average(&[&a], None).unwrap(), a);
    let twice = average(&[&a, &a], Some(&[3.0, 1.0])).unwrap();
    for (x, y) in twice.sst_probs.iter().flatten().zip(a.sst_probs.iter().flatten()) {
        assert!((x - y).abs() < 1e-12);
    }
    assert!((twice.sts_scores[0] - 1.0).abs() < 1e-12);
}

#[test]
fn weights_are_normalised_and_validated() {
    assert_eq!(normalise_weights(&[1.0, 3.0]).unwrap(), vec![0.25, 0.75]);
    assert!(normalise_weights(&[0.0, 0.0]).is_err());
    assert!(normalise_weights(&[-1.0, 2.0]).is_err());
    let (a, b) = (member(0.0), member(0.1));
    let avg = average(&[&a, &b], Some(&[1.0, 3.0])).unwrap();
    assert!((avg.para_probs[0] - (0.25 * 0.4 + 0.75 * 0.5)).abs() < 1e-12);
    assert!(average(&[&a, &b], Some(&[1.0])).is_err());
}

#[test]
fn members_on_different_examples_do_not_combine() {
    let a = member(0.0);
    let mut b = member(0.0);
    b.sts_ids = vec!["t1".into(), "other".into()];
    let err = average(&[&a, &b], None).unwrap_err().to_string();
    assert!(err.contains("STS"), "{err}");
}

#[test]
fn greedy_selection_adds_members_only_while_the_score_rises() {
    let members = [member(0.0), member(0.2), member(-0.2)];
    let refs: Vec<&TaskOutputs> = members.iter().collect();
    // Score: closeness of the first STS score to 1.0. Member 0 alone is perfect; adding the
    // other two together would also average to 1.0 but never beats it, so greedy stops.
    let chosen = greedy_select(&refs, |o| -(o.sts_scores[0] - 1.0).abs()).unwrap();
    assert_eq!(chosen, vec![0]);
    // Score wanting 1.1: member 1 (1.2) and member 0 (1.0) average to exactly 1.1.
    // (Either may come first: alone, both miss 1.1 by 0.1 up to rounding.)
    let mut chosen = greedy_select(&refs, |o| -(o.sts_scores[0] - 1.1).abs()).unwrap();
    chosen.sort();
    assert_eq!(chosen, vec![0, 1]);
}

#[test]
fn exhaustive_selection_finds_the_best_pair_that_greedy_misses() {
    // First STS scores 1.0, 1.3 and 0.8; the score wants 1.05. Member 0 alone misses by 0.05
    // and greedy, starting there, finds no pair or triple with it that does better; members
    // 1 and 2 average to exactly 1.05.
    let members = [member(0.0), member(0.3), member(-0.2)];
    let refs: Vec<&TaskOutputs> = members.iter().collect();
    let score = |o: &TaskOutputs| -(o.sts_scores[0] - 1.05).abs();
    assert_eq!(greedy_select(&refs, score).unwrap(), vec![0]);
    assert_eq!(best_subset_select(&refs, score).unwrap(), vec![1, 2]);
    // Ties go to the smallest subset: every subset holding only copies of one member scores the same.
    let copies = [member(0.0), member(0.0), member(0.0)];
    let refs: Vec<&TaskOutputs> = copies.iter().collect();
    assert_eq!(best_subset_select(&refs, |o| o.sts_scores[0]).unwrap(), vec![0]);
    // No finite score, or too many members to try every subset: errors.
    assert!(best_subset_select(&refs, |_| f64::NAN).is_err());
    let many: Vec<&TaskOutputs> = std::iter::repeat_n(&members[0], MAX_EXHAUSTIVE_MEMBERS + 1).collect();
    let err = best_subset_select(&many, score).unwrap_err().to_string();
    assert!(err.contains("greedy"), "{err}");
}

#[test]
fn merged_outputs_take_each_task_from_its_own_source() {
    let (a, b, c) = (member(0.1), member(0.2), member(0.3));
    let merged = merge_tasks(a.clone(), b.clone(), c.clone());
    assert_eq!((merged.sst_ids, merged.sst_probs), (a.sst_ids, a.sst_probs));
    assert_eq!((merged.para_ids, merged.para_probs), (b.para_ids, b.para_probs));
    assert_eq!((merged.sts_ids, merged.sts_scores), (c.sts_ids, c.sts_scores));
}

#[test]
fn outputs_become_the_files_of_the_tasks_they_cover() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = dir.path().join("predictions");
    let mut outputs = member(0.25);
    let written = write_outputs(&out, "test", &outputs).unwrap();
    assert_eq!(written.len(), 3);
    // Argmax of the class probabilities, paraphrase above 0.5, scores as they are.
    let sst = read(&out.join("sst-test-output.csv"), PredictionTask::Sst).unwrap();
    assert_eq!(sst, vec![("s1".to_string(), 0.0), ("s2".to_string(), 0.0)]);
    assert_eq!(
        read(&out.join("para-test-output.csv"), PredictionTask::Para).unwrap(),
        vec![("p1".to_string(), 1.0)]
    );
    assert_eq!(
        read(&out.join("sts-test-output.csv"), PredictionTask::Sts).unwrap(),
        vec![("t1".to_string(), 1.25), ("t2".to_string(), 4.0)]
    );

    // A task without outputs (no test file) gets no file.
    outputs.para_ids.clear();
    outputs.para_probs.clear();
    let again = dir.path().join("again");
    let written = write_outputs(&again, "test", &outputs).unwrap();
    assert_eq!(written.len(), 2);
    assert!(!again.join("para-test-output.csv").exists());
}

#[test]
fn outputs_replace_the_folder_whole() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = dir.path().join("predictions");
    std::fs::create_dir(&out).unwrap();
    // Another checkpoint's files: one this write produces too, one it does not.
    std::fs::write(out.join("sst-test-output.csv"), "old").unwrap();
    std::fs::write(out.join("para-dev-output.csv"), "old").unwrap();
    let mut outputs = member(0.25);
    outputs.para_ids.clear();
    outputs.para_probs.clear();
    write_outputs(&out, "test", &outputs).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["sst-test-output.csv", "sts-test-output.csv"]);
    assert!(read(&out.join("sst-test-output.csv"), PredictionTask::Sst).is_ok());
    // Nothing of the swap is left beside the folder.
    let beside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(beside.len(), 1);
}
