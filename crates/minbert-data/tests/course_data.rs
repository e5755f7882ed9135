//! The course files in data/: counts, skipped rows, labels and ids as in its README.

mod common;

use std::collections::HashSet;

use minbert_data::{
    CourseOptions, CourseTask, DataError, Dataset, Label, LabelStats, QUORA_TRAIN_PARTIAL, QuoraTrain, Split,
    data_stats, stats::label_stats,
};
use sha2::{Digest, Sha256};

/// The committed files are the course's, byte for byte: every line of `data/SHA256SUMS` holds.
#[test]
fn the_course_files_match_their_checksums() {
    let dir = minbert_testkit::data_dir();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut checked = 0;
    for line in sums.lines() {
        let (want, file) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("SHA256SUMS: bad line {line:?}"));
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 8, "SHA256SUMS lists the eight course files");
}

fn read(task: CourseTask, split: Split) -> Dataset {
    common::data_dir().read(task, split, &CourseOptions::default()).unwrap()
}

fn class_counts(dataset: &Dataset) -> Vec<usize> {
    match label_stats(dataset) {
        LabelStats::Classes { counts } => counts,
        other => panic!("expected class counts, got {other:?}"),
    }
}

fn assert_unique_ids(datasets: &[&Dataset]) {
    let mut seen = HashSet::new();
    for dataset in datasets {
        for example in &dataset.examples {
            assert!(
                seen.insert(example.id.as_str()),
                "id {} repeated ({})",
                example.id,
                dataset.path.display()
            );
        }
    }
}

#[test]
fn sst_counts_labels_and_texts() {
    let (train, dev, test) = (
        read(CourseTask::Sst, Split::Train),
        read(CourseTask::Sst, Split::Dev),
        read(CourseTask::Sst, Split::Test),
    );
    assert_eq!((train.len(), dev.len(), test.len()), (8544, 1101, 2210));
    assert!(train.skipped.is_empty() && dev.skipped.is_empty() && test.skipped.is_empty());
    assert_eq!(class_counts(&train), vec![1092, 2218, 1624, 2322, 1288]);
    assert_eq!(class_counts(&dev), vec![139, 289, 229, 279, 165]);
    assert!(!test.labelled && test.examples.iter().all(|e| e.label.is_none()));
    assert_unique_ids(&[&train, &dev, &test]);

    // The one leading space is stripped, nothing else is changed.
    assert!(
        train.examples[0].text.starts_with("The Rock is destined"),
        "{:?}",
        train.examples[0].text
    );
    assert!(
        train
            .examples
            .iter()
            .chain(&test.examples)
            .all(|e| !e.text.starts_with(' '))
    );
    // The odd test header `0\t\tid\tsentence`: columns are found by name.
    assert_eq!(test.examples[0].id, "b7573736a6ddf7be102b7fee0");
    assert_eq!(test.examples[0].text, "Effective but too-tepid biopic");
}

#[test]
fn quora_dev_skips_the_two_rows_without_a_label() {
    let dev = read(CourseTask::Para, Split::Dev);
    assert_eq!(dev.len() + dev.skipped.len(), 20214);
    assert_eq!(dev.len(), 20212);
    let skipped: Vec<(u64, &str)> = dev.skipped.iter().map(|s| (s.line, s.id.as_str())).collect();
    assert_eq!(
        skipped,
        vec![
            (2577, "ad118c967d683c93883bf072d"),
            (14222, "9054345d02cd6c5642a4904dc")
        ]
    );
    let message = dev.skipped[0].to_string();
    assert!(
        message.contains("quora-dev.csv:2577") && message.contains("empty label"),
        "{message}"
    );
    assert_eq!(class_counts(&dev), vec![12627, 7585]);
    assert_unique_ids(&[&dev]);

    // Doubled quotes inside a quoted field are one quote in the text (raw: `"""Which ... ""the"" here?"""`).
    let line_3 = &dev.examples[1];
    assert_eq!((line_3.line, line_3.id.as_str()), (3, "318658e273ac78f3b1e957b8b"));
    assert!(
        line_3.text.starts_with("\"Which is correct grammar:"),
        "{:?}",
        line_3.text
    );
    assert!(
        line_3.text.ends_with("Do I need \"\"the\"\" here?\""),
        "{:?}",
        line_3.text
    );
}

#[test]
fn quora_train_auto_takes_the_partial_file_here() {
    let train = read(CourseTask::Para, Split::Train);
    assert!(train.path.ends_with(QUORA_TRAIN_PARTIAL), "{}", train.path.display());
    assert!(train.note.as_deref().is_some_and(|n| n.contains(QUORA_TRAIN_PARTIAL)));
    assert_eq!(train.len(), 14137);
    assert_eq!(
        train.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![11662, 12412]
    );
    assert_eq!(class_counts(&train), vec![8838, 5299]);
    let dev = read(CourseTask::Para, Split::Dev);
    assert_unique_ids(&[&train, &dev]);

    let full = common::data_dir().course_file(CourseTask::Para, Split::Train, QuoraTrain::Full);
    assert!(matches!(full, Err(DataError::MissingFile { .. })));
}

#[test]
fn quora_test_is_a_missing_file_error_naming_the_path() {
    let err = common::data_dir()
        .read(CourseTask::Para, Split::Test, &CourseOptions::default())
        .unwrap_err();
    let DataError::MissingFile { path, .. } = &err else {
        panic!("expected MissingFile, got {err}")
    };
    assert!(path.ends_with("quora-test-student.csv"));
    assert!(
        err.to_string().starts_with("missing file ") && err.to_string().contains("quora-test-student.csv"),
        "{err}"
    );
}

#[test]
fn sts_counts_and_score_bins() {
    let (train, dev, test) = (
        read(CourseTask::Sts, Split::Train),
        read(CourseTask::Sts, Split::Dev),
        read(CourseTask::Sts, Split::Test),
    );
    assert_eq!((train.len(), dev.len(), test.len()), (6040, 863, 1725));
    assert!(train.skipped.is_empty() && dev.skipped.is_empty());
    assert_unique_ids(&[&train, &dev, &test]);
    for (dataset, expected_bins, expected_mean) in [
        (&train, [1043, 979, 1041, 1586, 1391], 2.613),
        (&dev, [136, 113, 160, 235, 219], 2.723),
    ] {
        let LabelStats::Scores { min, max, mean, bins } = label_stats(dataset) else {
            panic!("expected scores")
        };
        assert_eq!((min, max), (0.0, 5.0));
        assert!((mean - expected_mean).abs() < 5e-4, "mean {mean}");
        assert_eq!(bins.iter().map(|b| b.count).collect::<Vec<_>>(), expected_bins);
    }
    let distinct: HashSet<u32> = train
        .examples
        .iter()
        .map(|e| match e.label {
            Some(Label::Score(s)) => s.to_bits(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(distinct.len(), 158);
    // Control characters are data, not errors (STS-B's `Treasury\x12s`, line 3003).
    let line_3003 = train.examples.iter().find(|e| e.line == 3003).unwrap();
    assert_eq!(line_3003.id, "8c05017705291febf8d981075");
    assert!(format!("{}{}", line_3003.text, line_3003.text_pair.as_deref().unwrap()).contains("Treasury\u{12}s"));
}

#[test]
fn course_preprocessing_is_off_by_default_and_matches_the_course_when_on() {
    let options = CourseOptions {
        course_preprocessing: true,
        ..CourseOptions::default()
    };
    let sst = common::data_dir()
        .read(CourseTask::Sst, Split::Train, &options)
        .unwrap();
    assert!(sst.examples[0].text.starts_with("the rock is destined"));
    let sts = common::data_dir().read(CourseTask::Sts, Split::Dev, &options).unwrap();
    let raw = read(CourseTask::Sts, Split::Dev);
    assert_eq!(sts.len(), raw.len());
    assert!(
        sts.examples
            .iter()
            .all(|e| !e.text.contains("  ") && e.text == e.text.to_lowercase())
    );
    assert!(raw.examples.iter().any(|e| e.text != e.text.to_lowercase()));
}

#[test]
fn stats_cover_every_split_and_list_the_missing_one() {
    let tokenizer = common::tokenizer(512);
    let stats = data_stats(&common::data_dir(), &CourseOptions::default(), &[], Some(&tokenizer)).unwrap();
    assert_eq!(stats.splits.len(), 8);
    assert_eq!(stats.missing.len(), 1);
    assert_eq!(
        (stats.missing[0].task.as_str(), stats.missing[0].split),
        ("para", Split::Test)
    );
    for split in &stats.splits {
        let lengths = split.token_lengths.as_ref().unwrap();
        assert!(lengths.p50 <= lengths.p90 && lengths.p90 <= lengths.p99 && lengths.p99 <= lengths.max);
        assert!(lengths.p50 >= 3 && lengths.max <= 512, "{lengths:?}");
    }
    let para_dev = stats
        .splits
        .iter()
        .find(|s| s.task == "para" && s.split == Split::Dev)
        .unwrap();
    assert_eq!((para_dev.examples, para_dev.skipped.len()), (20212, 2));
}

#[test]
fn the_stats_table_has_a_row_per_split_and_the_json_names_each() {
    let tokenizer = common::tokenizer(512);
    let stats = data_stats(&common::data_dir(), &CourseOptions::default(), &[], Some(&tokenizer)).unwrap();
    let table = stats.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("data dir "), "{table}");
    assert!(
        lines[1].starts_with("task   split") && lines[1].ends_with("labels"),
        "{table}"
    );
    let sst_train = lines[2];
    assert!(sst_train.starts_with("sst    train     8544"), "{sst_train}");
    assert!(sst_train.ends_with(&stats.splits[0].labels.to_string()), "{sst_train}");
    assert!(table.contains("missing: para test: "), "{table}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("skipped ")).count(),
        stats.splits.iter().map(|s| s.skipped.len()).sum::<usize>()
    );

    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["splits"].as_array().unwrap().len(), 8);
    assert_eq!(
        (json["splits"][0]["task"].as_str(), json["splits"][0]["split"].as_str()),
        (Some("sst"), Some("train"))
    );
    assert_eq!(json["splits"][0]["examples"], 8544);
    assert!(json["splits"][0]["token_lengths"]["p99"].as_u64().unwrap() > 0);
    assert_eq!(json["missing"][0]["task"], "para");
}

#[test]
fn label_stats_show_classes_and_score_bins() {
    let classes = LabelStats::Classes { counts: vec![3, 0, 5] };
    assert_eq!(classes.to_string(), "0:3 1:0 2:5");
    let scores = label_stats(&read(CourseTask::Sts, Split::Dev)).to_string();
    assert!(
        scores.starts_with("mean ") && scores.contains("; 0-1:") && scores.contains(" 4-5:"),
        "{scores}"
    );
    assert_eq!(LabelStats::Unlabelled.to_string(), "(no labels)");
}
