//! Custom tasks declared in TOML.

use std::path::Path;

use minbert_data::{CustomTask, DataError, Label, Split, TaskKind};

fn write(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const VALID: &str = r#"
name = "nli"
train = "files/train.tsv"
dev = "files/dev.csv"
test = "files/test.tsv"
id = "pair_id"
text = "premise"
text_pair = "hypothesis"
label = "gold"
kind = { type = "classification", num_labels = 3 }
"#;

fn valid_task(dir: &Path) -> CustomTask {
    std::fs::create_dir(dir.join("files")).unwrap();
    write(
        dir,
        "files/train.tsv",
        "pair_id\tpremise\thypothesis\tgold\np1\tA man sleeps.\tA man rests.\t0\np2\tA cat.\tA dog.\t2\n",
    );
    write(
        dir,
        "files/dev.csv",
        "gold,hypothesis,premise,pair_id\n1,\"Yes, it is.\",It is.,d1\n",
    );
    write(dir, "files/test.tsv", "pair_id\tpremise\thypothesis\nt1\tx\ty\n");
    let toml = write(dir, "nli.toml", VALID);
    CustomTask::from_toml_file(&toml).unwrap()
}

#[test]
fn a_valid_task_loads_and_reads_every_split() {
    let dir = tempfile::tempdir().unwrap();
    let task = valid_task(dir.path());
    assert_eq!(
        (task.name(), task.kind()),
        ("nli", TaskKind::Classification { num_labels: 3 })
    );
    assert_eq!(task.splits(), vec![Split::Train, Split::Dev, Split::Test]);

    let train = task.read(Split::Train).unwrap();
    assert_eq!(train.examples.len(), 2);
    assert_eq!(train.examples[1].id, "p2");
    assert_eq!(train.examples[1].text_pair.as_deref(), Some("A dog."));
    assert_eq!(train.examples[1].label, Some(Label::Class(2)));

    // .csv: comma-separated, columns in another order, a quoted comma.
    let dev = task.read(Split::Dev).unwrap();
    assert_eq!(dev.examples[0].text_pair.as_deref(), Some("Yes, it is."));
    assert_eq!(dev.examples[0].label, Some(Label::Class(1)));

    let test = task.read(Split::Test).unwrap();
    assert!(!test.labelled && test.examples[0].label.is_none());
}

#[test]
fn a_misspelt_key_is_an_error_listing_the_valid_keys() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "typo.toml",
        &VALID.replace("label = \"gold\"", "lable = \"gold\""),
    );
    let err = CustomTask::from_toml_file(&toml).unwrap_err();
    let DataError::TaskConfig { line, .. } = &err else {
        panic!("got {err}")
    };
    assert_eq!(*line, 9);
    let message = err.to_string();
    assert!(message.contains(&format!("{}:9:", toml.display())), "{message}");
    for key in ["lable", "`label`", "`text_pair`", "`kind`", "`delimiter`"] {
        assert!(message.contains(key), "{key} not in {message}");
    }
}

#[test]
fn a_misspelt_key_inside_kind_is_an_error_listing_its_keys() {
    let text = VALID.replace("num_labels = 3", "num_label = 3");
    let err = CustomTask::from_toml_str(&text, Path::new("task.toml"), Path::new(".")).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DataError::TaskConfig { .. }), "{message}");
    assert!(
        message.contains("num_label") && message.contains("`num_labels`"),
        "{message}"
    );

    let text = VALID.replace("\"classification\"", "\"clasification\"");
    let message = CustomTask::from_toml_str(&text, Path::new("task.toml"), Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`classification`") && message.contains("`regression`"),
        "{message}"
    );
}

#[test]
fn invalid_values_name_their_key() {
    let cases = [
        (VALID.replace("id = \"pair_id\"", "delimiter = \"::\""), "delimiter"),
        (VALID.replace("num_labels = 3", "num_labels = 1"), "kind.num_labels"),
        (
            VALID.replace(
                "{ type = \"classification\", num_labels = 3 }",
                "{ type = \"regression\", min = 5, max = 1 }",
            ),
            "kind",
        ),
        (
            VALID.replace("text_pair = \"hypothesis\"", "text_pair = \"premise\""),
            "text_pair",
        ),
    ];
    for (text, expected_key) in cases {
        let err = CustomTask::from_toml_str(&text, Path::new("task.toml"), Path::new(".")).unwrap_err();
        let DataError::TaskConfigValue { key, .. } = &err else {
            panic!("{expected_key}: got {err}")
        };
        assert_eq!(key, expected_key);
        assert!(err.to_string().starts_with("task.toml: key"), "{err}");
    }
}

#[test]
fn a_split_without_a_file_is_an_error() {
    let text = r#"
        name = "sentiment"
        train = "train.csv"
        text = "review"
        label = "stars"
        kind = { type = "regression", min = 1, max = 5 }
    "#;
    let task = CustomTask::from_toml_str(text, Path::new("s.toml"), Path::new(".")).unwrap();
    assert_eq!(task.kind(), TaskKind::Regression { min: 1.0, max: 5.0 });
    let err = task.read(Split::Dev).unwrap_err();
    assert!(matches!(err, DataError::SplitNotDeclared { split: "dev", .. }), "{err}");
    assert!(err.to_string().contains("s.toml"));
}

#[test]
fn custom_files_get_the_same_checks_as_the_course_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.csv", "text,label\nfine,1\nunsure,maybe\n\"open,0\n");
    let toml = write(
        dir.path(),
        "b.toml",
        "name = \"b\"\ntrain = \"train.csv\"\ntext = \"text\"\nlabel = \"label\"\nkind = { type = \"binary\" }\n",
    );
    let task = CustomTask::from_toml_file(&toml).unwrap();
    let err = task.read(Split::Train).unwrap_err();
    assert!(matches!(err, DataError::UnterminatedQuote { line: 4, .. }), "{err}");

    write(dir.path(), "train.csv", "text,label\nfine,true\nunsure,maybe\n");
    let train = task.read(Split::Train).unwrap();
    // Without an id column, ids are line numbers.
    assert_eq!(train.examples[0].id, "2");
    assert_eq!(train.examples[0].label, Some(Label::Binary(true)));
    assert_eq!(train.skipped[0].line, 3);
}

#[test]
fn multiline_fields_are_allowed_only_when_declared() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.csv", "text,label\n\"two\nlines\",1\nnext,0\n");
    let base =
        "name = \"m\"\ntrain = \"train.csv\"\ntext = \"text\"\nlabel = \"label\"\nkind = { type = \"binary\" }\n";
    let strict = CustomTask::from_toml_str(base, Path::new("m.toml"), dir.path()).unwrap();
    assert!(matches!(
        strict.read(Split::Train),
        Err(DataError::UnterminatedQuote { line: 2, .. })
    ));

    let lenient =
        CustomTask::from_toml_str(&format!("{base}multiline = true\n"), Path::new("m.toml"), dir.path()).unwrap();
    let train = lenient.read(Split::Train).unwrap();
    assert_eq!(train.examples[0].text, "two\nlines");
    assert_eq!(train.examples[1].line, 4);
}
