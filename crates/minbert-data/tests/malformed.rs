//! Defective files: each gives its documented error (naming file and line) or a skipped row.

use std::path::{Path, PathBuf};

use minbert_data::{CourseTask, DataError, Dataset, Label, LabelColumn, Split, parse_table, read_course_file};

const SST_HEADER: &str = "\tid\tsentence\tsentiment\n";
const QUORA_HEADER: &str = "\tid\tsentence1\tsentence2\tis_duplicate\n";
const STS_HEADER: &str = "\tid\tsentence1\tsentence2\tsimilarity\n";

/// Writes `contents` to a file in a fresh temporary directory.
fn file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

fn read(task: CourseTask, split: Split, contents: &[u8]) -> (Result<Dataset, DataError>, PathBuf, tempfile::TempDir) {
    let (dir, path) = file("task.csv", contents);
    (read_course_file(&path, task, split, false), path, dir)
}

/// Asserts the message names the file and the line.
fn assert_names(err: &DataError, path: &Path, line: u64) {
    let message = err.to_string();
    assert!(message.contains(&format!("{}:{line}:", path.display())), "{message}");
}

#[test]
fn a_missing_column_is_an_error_on_the_header_line() {
    let (result, path, _dir) = read(CourseTask::Sst, Split::Train, b"\tid\tsentence\n0\ta\t x\n");
    let err = result.unwrap_err();
    let DataError::MissingColumn {
        column, found, line, ..
    } = &err
    else {
        panic!("got {err}")
    };
    assert_eq!((column.as_str(), *line), ("sentiment", 1));
    assert_eq!(found, &vec!["".to_string(), "id".into(), "sentence".into()]);
    assert_names(&err, &path, 1);
}

#[test]
fn a_label_that_is_not_a_number_is_skipped_with_file_and_line() {
    let contents = format!("{SST_HEADER}0\ta\t good\t3\n1\tb\t bad\tabc\n2\tc\t fine\t\n3\td\t ok\t0\n");
    let (result, path, _dir) = read(CourseTask::Sst, Split::Train, contents.as_bytes());
    let dataset = result.unwrap();
    assert_eq!(
        dataset.examples.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["a", "d"]
    );
    assert_eq!(dataset.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), vec![3, 4]);
    let message = dataset.skipped[0].to_string();
    assert!(
        message.contains(&format!("{}:3:", path.display())) && message.contains("\"abc\""),
        "{message}"
    );
}

#[test]
fn out_of_range_labels_are_errors() {
    let cases: [(CourseTask, String, &str); 5] = [
        (CourseTask::Sst, format!("{SST_HEADER}0\ta\t x\t4\n1\tb\t y\t5\n"), "5"),
        (
            CourseTask::Sst,
            format!("{SST_HEADER}0\ta\t x\t1\n1\tb\t y\t2.5\n"),
            "2.5",
        ),
        (
            CourseTask::Para,
            format!("{QUORA_HEADER}0\ta\tx\ty\t1.0\n1\tb\tx\ty\t2.0\n"),
            "2.0",
        ),
        (
            CourseTask::Para,
            format!("{QUORA_HEADER}0\ta\tx\ty\t0.0\n1\tb\tx\ty\t0.5\n"),
            "0.5",
        ),
        (
            CourseTask::Sts,
            format!("{STS_HEADER}0\ta\tx\ty\t5.0\n1\tb\tx\ty\t5.2\n"),
            "5.2",
        ),
    ];
    for (task, contents, bad) in cases {
        let (result, path, _dir) = read(task, Split::Train, contents.as_bytes());
        let err = result.unwrap_err();
        let DataError::LabelOutOfRange { value, line, .. } = &err else {
            panic!("{task}: got {err}")
        };
        assert_eq!((value.as_str(), *line), (bad, 3));
        assert_names(&err, &path, 3);
        assert!(err.to_string().contains("expected"), "{err}");
    }
}

#[test]
fn an_unterminated_quote_is_an_error_on_the_line_it_opens() {
    let contents = format!("{QUORA_HEADER}0\ta\tx\ty\t1.0\n1\tb\t\"open\ty\t0.0\n2\tc\tx\ty\t0.0\n");
    let (result, path, _dir) = read(CourseTask::Para, Split::Dev, contents.as_bytes());
    let err = result.unwrap_err();
    assert!(matches!(err, DataError::UnterminatedQuote { line: 3, .. }), "{err}");
    assert_names(&err, &path, 3);

    // At the very end of the file, without a final newline.
    let contents = format!("{QUORA_HEADER}0\ta\tx\ty\t1.0\n1\tb\tx\t\"open");
    let (result, _path, _dir) = read(CourseTask::Para, Split::Test, contents.as_bytes());
    assert!(
        matches!(result, Err(DataError::UnterminatedQuote { line: 3, .. })),
        "{result:?}"
    );
}

#[test]
fn quoted_fields_with_doubled_quotes_are_unquoted() {
    let contents = format!("{QUORA_HEADER}0\ta\t\"\"\"the\"\" here?\"\t\"x\ty\"\t1.0\n");
    let (result, _path, _dir) = read(CourseTask::Para, Split::Dev, contents.as_bytes());
    let example = &result.unwrap().examples[0];
    assert_eq!(example.text, "\"the\" here?");
    assert_eq!(example.text_pair.as_deref(), Some("x\ty"));
}

#[test]
fn an_empty_file_is_an_error() {
    for contents in [&b""[..], b"\xEF\xBB\xBF", b"\n\n"] {
        let (result, path, _dir) = read(CourseTask::Sst, Split::Dev, contents);
        let err = result.unwrap_err();
        assert!(matches!(err, DataError::EmptyFile { .. }), "{contents:?}: {err}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}

/// Documented choice: a header without rows is an error, not an empty dataset.
#[test]
fn a_file_with_only_a_header_is_an_error() {
    let (result, path, _dir) = read(CourseTask::Sst, Split::Dev, SST_HEADER.as_bytes());
    let err = result.unwrap_err();
    assert!(matches!(err, DataError::NoRecords { header_line: 1, .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()) && err.to_string().contains("line 1"));
}

#[test]
fn crlf_line_endings_read_like_lf() {
    let lf = format!("{STS_HEADER}0\ta\tOne.\tTwo.\t3.5\n1\tb\t\"Three \"\"3\"\"\"\tFour.\t0\n");
    let crlf = lf.replace('\n', "\r\n");
    let (lf_result, _, _dir1) = read(CourseTask::Sts, Split::Train, lf.as_bytes());
    let (crlf_result, _, _dir2) = read(CourseTask::Sts, Split::Train, crlf.as_bytes());
    let (lf, crlf) = (lf_result.unwrap(), crlf_result.unwrap());
    assert_eq!(lf.examples, crlf.examples);
    assert_eq!(crlf.examples[1].text, "Three \"3\"");
    assert_eq!(crlf.examples[1].line, 3);

    // Unlabelled: the text is the last column and must not keep the `\r`.
    let test = format!("{SST_HEADER}0\ta\t last\t1\n").replace('\n', "\r\n");
    let (result, _, _dir3) = read(CourseTask::Sst, Split::Test, test.as_bytes());
    assert_eq!(result.unwrap().examples[0].text, "last");
}

#[test]
fn a_utf8_bom_is_accepted() {
    // The BOM sits before the first column name, which must still be found.
    let contents = "\u{feff}id\tsentence\tsentiment\na\t x\t2\n";
    let (result, _, _dir) = read(CourseTask::Sst, Split::Train, contents.as_bytes());
    let dataset = result.unwrap();
    assert_eq!(dataset.examples[0].id, "a");
    assert_eq!(dataset.examples[0].label, Some(Label::Class(2)));
}

#[test]
fn invalid_utf8_is_an_error_naming_the_line() {
    let mut contents = format!("{SST_HEADER}0\ta\t fine\t1\n").into_bytes();
    contents.extend_from_slice(b"1\tb\t caf\xE9\t2\n");
    let (result, path, _dir) = read(CourseTask::Sst, Split::Train, &contents);
    let err = result.unwrap_err();
    assert!(matches!(err, DataError::InvalidUtf8 { line: 3, .. }), "{err}");
    assert_names(&err, &path, 3);

    let (result, _, _dir) = read(
        CourseTask::Sst,
        Split::Train,
        b"\tid\tsent\xFFence\tsentiment\n0\ta\t x\t1\n",
    );
    assert!(
        matches!(result, Err(DataError::InvalidUtf8 { line: 1, .. })),
        "{result:?}"
    );
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_an_error() {
    let contents = format!("{SST_HEADER}0\ta\t x\t1\n1\tb\t y\n");
    let (result, path, _dir) = read(CourseTask::Sst, Split::Train, contents.as_bytes());
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            DataError::FieldCount {
                line: 3,
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path, 3);
}

#[test]
fn duplicate_and_empty_ids_are_errors() {
    let contents = format!("{SST_HEADER}0\ta\t x\t1\n1\tb\t y\t1\n2\ta\t z\t1\n");
    let (result, path, _dir) = read(CourseTask::Sst, Split::Train, contents.as_bytes());
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            DataError::DuplicateId {
                line: 4,
                first_line: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path, 4);

    let contents = format!("{SST_HEADER}0\t\t x\t1\n");
    let (result, _, _dir) = read(CourseTask::Sst, Split::Train, contents.as_bytes());
    assert!(matches!(result, Err(DataError::EmptyId { line: 2, .. })), "{result:?}");
}

#[test]
fn a_missing_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.csv");
    let err = read_course_file(&path, CourseTask::Sts, Split::Dev, false).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { .. }));
    assert!(err.to_string().contains("nope.csv"), "{err}");
}

#[test]
fn an_unreadable_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be read as a file, whoever runs the test (root reads any file).
    let err = read_course_file(dir.path(), CourseTask::Sst, Split::Dev, false).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
}

/// xorshift64*: enough to generate inputs, no dependency.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Random input, of two sorts: arbitrary bytes, and rows of the right shape (an id, texts, a
/// label last) with now and then a quote, line end, invalid UTF-8, a wrong label or a wrong
/// field count, so that both readable and broken files occur.
fn random_input(rng: &mut Bytes, header: &[u8], columns: usize, labelled: bool, structured: bool) -> Vec<u8> {
    const TEXT_BYTES: &[u8] = b"0123456789.abcdefghij  ,'\xC3\xA9";
    const RARE_BYTES: &[u8] = b"\t\"\n\r\xFF\xEF\xBB\xBF";
    const LABELS: [&str; 10] = ["0", "1", "1.0", "0.0", "2", "3.5", "4", "", "x", "7"];
    let mut input = header.to_vec();
    if !structured {
        input.extend((0..rng.next() % 300).map(|_| rng.next() as u8));
        return input;
    }
    for row in 0..rng.next() % 12 {
        let fields = match rng.next() % 40 {
            0 => columns + 1,
            1 => columns - 1,
            _ => columns,
        };
        for field in 0..fields {
            if field > 0 {
                input.push(b'\t');
            }
            if field == 1 {
                input.extend(format!("id{row}").bytes());
            } else if labelled && field == columns - 1 {
                input.extend(LABELS[rng.next() as usize % LABELS.len()].bytes());
            } else {
                for _ in 0..rng.next() % 8 {
                    let r = rng.next();
                    let pool = if r.is_multiple_of(60) { RARE_BYTES } else { TEXT_BYTES };
                    input.push(pool[(r >> 8) as usize % pool.len()]);
                }
            }
        }
        input.push(b'\n');
    }
    input
}

#[test]
fn random_bytes_never_panic_the_reader() {
    let specs: Vec<_> = [CourseTask::Sst, CourseTask::Para, CourseTask::Sts]
        .into_iter()
        .flat_map(|task| Split::ALL.map(|split| task.table_spec(split, false)))
        .collect();
    let path = Path::new("fuzz.csv");
    let mut rng = Bytes(0x9E37_79B9_7F4A_7C15);
    let (mut parsed, mut failed) = (0, 0);
    for case in 0..4000 {
        let spec = &specs[case % specs.len()];
        let mut names = vec!["", "id", spec.text_column.as_str()];
        names.extend(spec.text_pair_column.as_deref());
        let labelled = matches!(&spec.label_column, LabelColumn::Required(_));
        if let LabelColumn::Required(label) = &spec.label_column {
            names.push(label);
        }
        let header = names.join("\t") + "\n";
        let columns = names.len();
        let input = random_input(&mut rng, header.as_bytes(), columns, labelled, !case.is_multiple_of(4));
        match parse_table(&input, path, spec) {
            Ok(dataset) => {
                parsed += 1;
                let lines = input.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
                assert!(dataset.examples.len() + dataset.skipped.len() <= lines);
            }
            Err(err) => {
                failed += 1;
                assert!(err.to_string().contains("fuzz.csv"), "{err}");
            }
        }
    }
    // Both outcomes occur, so the loop exercised more than the first check.
    assert!(parsed > 100 && failed > 100, "parsed {parsed}, failed {failed}");
}
