//! The one reader behind the course files and custom tasks: a delimited file with a header row,
//! `"` quoting with doubled quotes inside (Python's `csv`), columns found by header name.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{DataError, Result};
use crate::example::{Dataset, Example, Label, SkippedRow, TaskKind};

/// Where a file's labels are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelColumn {
    /// An unlabelled (test) file.
    Absent,
    /// The column must exist.
    Required(String),
    /// Labels are read when the column exists (custom test files may or may not have them).
    IfPresent(String),
}

/// What is done to each text after reading. Texts are otherwise kept byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTransform {
    Verbatim,
    /// The SST files start every sentence with one space.
    StripLeadingSpace,
    /// The course's SST preprocessing: `.lower().strip()`.
    CourseLowercaseStrip,
    /// The course's `preprocess_string` for Quora and STS: lowercase, a space before `.?,'`,
    /// whitespace runs collapsed to one space.
    CourseSplitPunctuation,
}

impl TextTransform {
    pub fn apply(self, text: &str) -> String {
        match self {
            TextTransform::Verbatim => text.to_string(),
            TextTransform::StripLeadingSpace => text.strip_prefix(' ').unwrap_or(text).to_string(),
            TextTransform::CourseLowercaseStrip => text.to_lowercase().trim().to_string(),
            TextTransform::CourseSplitPunctuation => {
                let spaced = text
                    .to_lowercase()
                    .replace('.', " .")
                    .replace('?', " ?")
                    .replace(',', " ,")
                    .replace('\'', " '");
                spaced.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        }
    }
}

/// How to read one file into a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub task: String,
    pub kind: TaskKind,
    pub delimiter: u8,
    /// The id column; without one, each example's id is its line number.
    pub id_column: Option<String>,
    pub text_column: String,
    pub text_pair_column: Option<String>,
    pub label_column: LabelColumn,
    pub text_transform: TextTransform,
    /// Whether a quoted field may run over a line end. Off for the course files, where every
    /// record is one line, so an unbalanced quote is caught on its own line instead of silently
    /// swallowing the rows after it.
    pub multiline_fields: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `path` as described by `spec`. Rows whose label is not a number are skipped and
/// listed in [`Dataset::skipped`]; every other defect is an error naming the file and line.
pub fn read_table(path: &Path, spec: &TableSpec) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::MissingFile {
            path: path.to_path_buf(),
            hint: format!("expected the {} file", spec.task),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    parse_table(&bytes, path, spec)
}

/// Parses file contents already in memory; `path` is only used in messages.
pub fn parse_table(bytes: &[u8], path: &Path, spec: &TableSpec) -> Result<Dataset> {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if let Some((line, where_)) = find_unterminated_quote(body, spec.delimiter, spec.multiline_fields) {
        return Err(DataError::UnterminatedQuote {
            path: path.to_path_buf(),
            line,
            where_,
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(spec.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(body);
    if !reader.read_byte_record(&mut record).map_err(|e| csv_error(path, e))? {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let header_line = lines.line_of(&record);
    let header: Vec<String> = decode_fields(&record, path, header_line)?
        .into_iter()
        .map(str::to_string)
        .collect();
    let columns = Columns::find(&header, spec, path, header_line)?;
    let mut rows = Rows {
        path,
        spec,
        header: &header,
        columns: &columns,
        first_line_of_id: HashMap::new(),
        examples: Vec::new(),
        skipped: Vec::new(),
    };
    let mut records = 0usize;
    while reader.read_byte_record(&mut record).map_err(|e| csv_error(path, e))? {
        records += 1;
        rows.push(&record, lines.line_of(&record))?;
    }
    if records == 0 {
        return Err(DataError::NoRecords {
            path: path.to_path_buf(),
            header_line,
        });
    }
    Ok(Dataset {
        task: spec.task.clone(),
        kind: spec.kind,
        path: path.to_path_buf(),
        note: None,
        paired: columns.text_pair.is_some(),
        labelled: columns.label.is_some(),
        examples: rows.examples,
        skipped: rows.skipped,
    })
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    DataError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    }
}

/// The records of a table after its header, as examples and skipped rows.
struct Rows<'a> {
    path: &'a Path,
    spec: &'a TableSpec,
    header: &'a [String],
    columns: &'a Columns,
    first_line_of_id: HashMap<String, u64>,
    examples: Vec<Example>,
    skipped: Vec<SkippedRow>,
}

impl Rows<'_> {
    /// The record at `line`: an example, a skipped row (a label that is not a number), or an
    /// error naming the line.
    fn push(&mut self, record: &csv::ByteRecord, line: u64) -> Result<()> {
        if record.len() != self.header.len() {
            return Err(DataError::FieldCount {
                path: self.path.to_path_buf(),
                line,
                expected: self.header.len(),
                found: record.len(),
            });
        }
        let fields = decode_fields(record, self.path, line)?;
        let id = self.id(&fields, line)?;
        let label = match self.columns.label {
            None => None,
            Some(i) => match parse_label(fields[i], self.spec.kind) {
                Ok(label) => Some(label),
                Err(LabelProblem::NotANumber(reason)) => {
                    self.skipped.push(SkippedRow {
                        path: self.path.to_path_buf(),
                        line,
                        id,
                        reason: format!("{reason} in column {:?}", self.header[i]),
                    });
                    return Ok(());
                }
                Err(LabelProblem::OutOfRange) => {
                    return Err(DataError::LabelOutOfRange {
                        path: self.path.to_path_buf(),
                        line,
                        column: self.header[i].clone(),
                        value: fields[i].to_string(),
                        expected: self.spec.kind.expected(),
                    });
                }
            },
        };
        let transform = &self.spec.text_transform;
        self.examples.push(Example {
            id,
            text: transform.apply(fields[self.columns.text]),
            text_pair: self.columns.text_pair.map(|i| transform.apply(fields[i])),
            label,
            line,
        });
        Ok(())
    }

    /// The row's id (its line number when the table has no id column), unique in the file.
    fn id(&mut self, fields: &[&str], line: u64) -> Result<String> {
        let id = match self.columns.id {
            Some(i) if fields[i].trim().is_empty() => {
                return Err(DataError::EmptyId {
                    path: self.path.to_path_buf(),
                    line,
                    column: self.header[i].clone(),
                });
            }
            Some(i) => fields[i].to_string(),
            None => line.to_string(),
        };
        if let Some(&first_line) = self.first_line_of_id.get(&id) {
            return Err(DataError::DuplicateId {
                path: self.path.to_path_buf(),
                line,
                id,
                first_line,
            });
        }
        self.first_line_of_id.insert(id.clone(), line);
        Ok(id)
    }
}

/// Line numbers from byte offsets: the `csv` crate's own line count is off by one with CRLF
/// line ends. A line ends at `\n`, `\r\n` or a lone `\r`, as for the `csv` crate.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line where `record` starts; records must come in file order.
    fn line_of(&mut self, record: &csv::ByteRecord) -> u64 {
        let mut start = record
            .position()
            .map_or(self.offset, |p| p.byte() as usize)
            .min(self.bytes.len());
        // After `\r\n` the reported start is the `\n`; a record never starts with a line end.
        while start < self.bytes.len() && matches!(self.bytes[start], b'\n' | b'\r') {
            start += 1;
        }
        for i in self.offset..start {
            if ends_line(self.bytes, i) {
                self.line += 1;
            }
        }
        self.offset = self.offset.max(start);
        self.line
    }
}

/// Whether the byte at `i` ends a line (a `\r` followed by `\n` does not: the `\n` does).
fn ends_line(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'\n' => true,
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

fn decode_fields<'r>(record: &'r csv::ByteRecord, path: &Path, line: u64) -> Result<Vec<&'r str>> {
    record
        .iter()
        .map(|field| {
            std::str::from_utf8(field).map_err(|_| DataError::InvalidUtf8 {
                path: path.to_path_buf(),
                line,
            })
        })
        .collect()
}

/// Indices of the columns a spec uses.
struct Columns {
    id: Option<usize>,
    text: usize,
    text_pair: Option<usize>,
    label: Option<usize>,
}

impl Columns {
    fn find(header: &[String], spec: &TableSpec, path: &Path, line: u64) -> Result<Self> {
        let position = |name: &str| -> Result<Option<usize>> {
            let mut hits = header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.as_str() == name)
                .map(|(i, _)| i);
            let first = hits.next();
            if hits.next().is_some() {
                return Err(DataError::DuplicateColumn {
                    path: path.to_path_buf(),
                    line,
                    column: name.to_string(),
                });
            }
            Ok(first)
        };
        let required = |name: &str| -> Result<usize> {
            position(name)?.ok_or_else(|| DataError::MissingColumn {
                path: path.to_path_buf(),
                line,
                column: name.to_string(),
                delimiter: char::from(spec.delimiter),
                found: header.to_vec(),
            })
        };
        Ok(Columns {
            id: spec.id_column.as_deref().map(required).transpose()?,
            text: required(&spec.text_column)?,
            text_pair: spec.text_pair_column.as_deref().map(required).transpose()?,
            label: match &spec.label_column {
                LabelColumn::Absent => None,
                LabelColumn::Required(name) => Some(required(name)?),
                LabelColumn::IfPresent(name) => position(name)?,
            },
        })
    }
}

enum LabelProblem {
    /// The row is skipped, as the course's reader does.
    NotANumber(String),
    /// A number that is not a valid label: an error, since it means a wrong file or kind.
    OutOfRange,
}

fn parse_label(raw: &str, kind: TaskKind) -> Result<Label, LabelProblem> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(LabelProblem::NotANumber("empty label".to_string()));
    }
    if kind == TaskKind::Binary {
        match text {
            "true" | "True" => return Ok(Label::Binary(true)),
            "false" | "False" => return Ok(Label::Binary(false)),
            _ => {}
        }
    }
    let value: f64 = match text.parse() {
        Ok(v) if f64::is_finite(v) => v,
        _ => {
            return Err(LabelProblem::NotANumber(format!("label {raw:?} is not a number")));
        }
    };
    match kind {
        TaskKind::Classification { num_labels } => {
            if value.fract() == 0.0 && value >= 0.0 && value < num_labels as f64 {
                Ok(Label::Class(value as usize))
            } else {
                Err(LabelProblem::OutOfRange)
            }
        }
        TaskKind::Binary => match value {
            0.0 => Ok(Label::Binary(false)),
            1.0 => Ok(Label::Binary(true)),
            _ => Err(LabelProblem::OutOfRange),
        },
        TaskKind::Regression { min, max } => {
            if value >= f64::from(min) && value <= f64::from(max) {
                Ok(Label::Score(value as f32))
            } else {
                Err(LabelProblem::OutOfRange)
            }
        }
    }
}

/// Finds a quoted field that is never closed: csv readers (Python's and the `csv` crate) then
/// read on to the next quote or the end of the file without complaint. Follows the quoting
/// rules of both: a quote opens a quoted field only at the start of a field, `""` inside one is a
/// literal quote. Returns the line where the field opened and how far it ran.
fn find_unterminated_quote(bytes: &[u8], delimiter: u8, multiline: bool) -> Option<(u64, &'static str)> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut line = 1u64;
    let mut opened_on = 1u64;
    for (i, &byte) in bytes.iter().enumerate() {
        if ends_line(bytes, i) {
            line += 1;
        }
        state = match state {
            State::FieldStart | State::Unquoted => match byte {
                b'"' if state == State::FieldStart => {
                    opened_on = line;
                    State::Quoted
                }
                b'\n' | b'\r' => State::FieldStart,
                b if b == delimiter => State::FieldStart,
                _ => State::Unquoted,
            },
            State::Quoted => match byte {
                b'"' => State::QuoteInQuoted,
                b'\n' | b'\r' if !multiline => return Some((opened_on, "on the same line")),
                _ => State::Quoted,
            },
            State::QuoteInQuoted => match byte {
                b'"' => State::Quoted,
                b'\n' | b'\r' => State::FieldStart,
                b if b == delimiter => State::FieldStart,
                // Text after a closing quote is kept by both readers, as part of the field.
                _ => State::Unquoted,
            },
        };
    }
    (state == State::Quoted).then_some((opened_on, "before the end of the file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_scan_accepts_doubled_quotes_and_finds_open_ones() {
        let ok = b"a\tb\n1\t\"\"\"x\"\" y\"\n2\tz\"\n";
        assert_eq!(find_unterminated_quote(ok, b'\t', false), None);
        let open = b"a\tb\n1\t\"x\n2\ty\"\n";
        assert_eq!(
            find_unterminated_quote(open, b'\t', false),
            Some((2, "on the same line"))
        );
        assert_eq!(find_unterminated_quote(open, b'\t', true), None);
        let open_at_end = b"a\tb\n1\tx\n2\t\"y\n3\tz\n";
        assert_eq!(
            find_unterminated_quote(open_at_end, b'\t', true),
            Some((3, "before the end of the file"))
        );
    }

    #[test]
    fn course_preprocessing_matches_the_python_reader() {
        assert_eq!(
            TextTransform::CourseSplitPunctuation.apply("What's  up, Doc?Yes."),
            "what 's up , doc ?yes ."
        );
        assert_eq!(TextTransform::CourseLowercaseStrip.apply(" The Rock "), "the rock");
        assert_eq!(TextTransform::StripLeadingSpace.apply("  two"), " two");
    }

    #[test]
    fn labels_that_are_not_numbers_are_skipped_and_wrong_numbers_rejected() {
        let five = TaskKind::Classification { num_labels: 5 };
        assert!(matches!(parse_label("4", five), Ok(Label::Class(4))));
        assert!(matches!(parse_label("2.0", five), Ok(Label::Class(2))));
        assert!(matches!(parse_label("5", five), Err(LabelProblem::OutOfRange)));
        assert!(matches!(parse_label("1.5", five), Err(LabelProblem::OutOfRange)));
        assert!(matches!(parse_label("-1", five), Err(LabelProblem::OutOfRange)));
        assert!(matches!(parse_label("", five), Err(LabelProblem::NotANumber(_))));
        assert!(matches!(parse_label("NaN", five), Err(LabelProblem::NotANumber(_))));
        assert!(matches!(parse_label("1.0", TaskKind::Binary), Ok(Label::Binary(true))));
        assert!(matches!(
            parse_label("0.5", TaskKind::Binary),
            Err(LabelProblem::OutOfRange)
        ));
        let sts = TaskKind::Regression { min: 0.0, max: 5.0 };
        assert!(matches!(parse_label("5.0", sts), Ok(Label::Score(s)) if s == 5.0));
        assert!(matches!(parse_label("5.2", sts), Err(LabelProblem::OutOfRange)));
    }
}
