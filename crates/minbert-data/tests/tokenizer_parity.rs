//! Tokenizer parity with HF's fast tokenizer: the 26 cases recorded in
//! `tests/fixtures/hf-parity/manifest.json`, through `tokenizer.json` and through the
//! `vocab.txt` fallback, plus cases of our own.

use minbert_data::{BertTokenizer, TokenizerError};
use serde_json::Value;

use minbert_testkit::{data_dir, fixtures_dir, model_dir};

/// A folder holding only `vocab.txt`, to exercise the fallback.
fn vocab_only() -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::copy(model_dir().join("vocab.txt"), dir.path().join("vocab.txt")).unwrap();
    dir
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn check_manifest_cases(tokenizer_dir: &std::path::Path) {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["tokenizer"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 26);
    let base = BertTokenizer::from_dir(tokenizer_dir).unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let max_len = case["max_len"].as_u64().unwrap() as usize;
        let tokenizer = base.clone().with_max_len(max_len).unwrap();
        let enc = tokenizer
            .encode(case["text"].as_str().unwrap(), case["text_pair"].as_str())
            .unwrap();
        assert_eq!(
            enc.input_ids,
            ids(&case["input_ids"]),
            "{name}: input_ids ({:?})",
            enc.tokens
        );
        assert_eq!(
            enc.token_type_ids,
            ids(&case["token_type_ids"]),
            "{name}: token_type_ids"
        );
    }
}

#[test]
fn tokenizer_json_matches_hf_on_every_recorded_case() {
    check_manifest_cases(&model_dir());
}

#[test]
fn vocab_txt_fallback_matches_hf_on_every_recorded_case() {
    let dir = vocab_only();
    let tokenizer = BertTokenizer::from_dir(dir.path()).unwrap();
    assert!(tokenizer.source().ends_with("vocab.txt"));
    check_manifest_cases(dir.path());
}

fn tokens(text: &str, pair: Option<&str>, max_len: usize) -> Vec<String> {
    let tokenizer = BertTokenizer::from_dir(&model_dir())
        .unwrap()
        .with_max_len(max_len)
        .unwrap();
    tokenizer.encode(text, pair).unwrap().tokens
}

#[test]
fn own_cases_accents_punctuation_numbers_unknown() {
    // Accents are stripped and case folded before WordPiece, whatever the vocabulary holds.
    assert_eq!(tokens("Crème BRÛLÉE!", None, 32), tokens("creme brulee!", None, 32));
    assert_eq!(
        tokens("Crème brûlée!", None, 32),
        ["[CLS]", "cr", "##eme", "br", "##ule", "##e", "!", "[SEP]"]
    );
    assert_eq!(
        tokens("3.14, 42", None, 32),
        ["[CLS]", "3", ".", "14", ",", "42", "[SEP]"]
    );
    assert_eq!(
        tokens("x \u{1F9EA}\u{1F9EA} y", None, 32),
        ["[CLS]", "x", "[UNK]", "y", "[SEP]"]
    );
    assert_eq!(tokens("(hi)", None, 32), ["[CLS]", "(", "hi", ")", "[SEP]"]);
}

#[test]
fn pair_truncation_is_longest_first_and_keeps_token_types() {
    let tokenizer = BertTokenizer::from_dir(&model_dir()).unwrap().with_max_len(10).unwrap();
    let enc = tokenizer
        .encode("one two three four five six seven eight", Some("alpha beta"))
        .unwrap();
    assert_eq!(enc.len(), 10);
    // 7 text tokens fit: the long first text loses words until it is no longer the longest.
    assert_eq!(
        enc.tokens,
        [
            "[CLS]", "one", "two", "three", "four", "five", "[SEP]", "alpha", "beta", "[SEP]"
        ]
    );
    assert_eq!(enc.token_type_ids, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
}

#[test]
fn missing_tokenizer_and_tiny_max_len_are_errors() {
    let empty = tempfile::TempDir::new().unwrap();
    let err = BertTokenizer::from_dir(empty.path()).err().unwrap();
    assert!(matches!(err, TokenizerError::NotFound { .. }));
    assert!(err.to_string().contains("tokenizer.json or vocab.txt"));
    let err = BertTokenizer::from_dir(&model_dir())
        .unwrap()
        .with_max_len(2)
        .err()
        .unwrap();
    assert!(matches!(err, TokenizerError::MaxLenTooSmall { max_len: 2, .. }));
}

#[test]
fn tokenizer_json_and_vocab_txt_agree_on_course_sentences() {
    // Both pipelines on real text: the first 300 SST training sentences, and pairs of them.
    let sst = std::fs::read_to_string(data_dir().join("ids-sst-train.csv")).unwrap();
    let sentences: Vec<&str> = sst
        .lines()
        .skip(1)
        .take(300)
        .filter_map(|l| l.split('\t').nth(2))
        .collect();
    assert_eq!(sentences.len(), 300);
    let json = BertTokenizer::from_dir(&model_dir()).unwrap().with_max_len(40).unwrap();
    let dir = vocab_only();
    let vocab = BertTokenizer::from_dir(dir.path()).unwrap().with_max_len(40).unwrap();
    for pair in sentences.windows(2) {
        assert_eq!(
            json.encode(pair[0], None).unwrap(),
            vocab.encode(pair[0], None).unwrap(),
            "{}",
            pair[0]
        );
        assert_eq!(
            json.encode(pair[0], Some(pair[1])).unwrap(),
            vocab.encode(pair[0], Some(pair[1])).unwrap()
        );
    }
}

/// A folder with a small cased vocabulary and, if given, a `tokenizer_config.json`.
fn cased_vocab(config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\nParis\nparis\nCrème\ncreme\n!\n";
    std::fs::write(dir.path().join("vocab.txt"), vocab).unwrap();
    if let Some(config) = config {
        std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
    }
    dir
}

fn vocab_tokens(dir: &tempfile::TempDir, text: &str) -> Vec<String> {
    BertTokenizer::from_dir(dir.path())
        .unwrap()
        .encode(text, None)
        .unwrap()
        .tokens
}

#[test]
fn vocab_txt_of_a_cased_model_keeps_case_and_accents() {
    let cased = cased_vocab(Some(r#"{"do_lower_case": false, "model_max_length": 512}"#));
    assert_eq!(
        vocab_tokens(&cased, "Hello Paris Crème!"),
        ["[CLS]", "Hello", "Paris", "Crème", "!", "[SEP]"]
    );
    // HF's default, with the key or the whole file absent: lowercase and strip accents.
    for uncased in [cased_vocab(Some("{}")), cased_vocab(None)] {
        assert_eq!(
            vocab_tokens(&uncased, "Hello Paris Crème!"),
            ["[CLS]", "hello", "paris", "creme", "!", "[SEP]"]
        );
    }
    // strip_accents on its own, as HF reads it.
    let stripped = cased_vocab(Some(r#"{"do_lower_case": false, "strip_accents": true}"#));
    assert_eq!(vocab_tokens(&stripped, "Crème"), ["[CLS]", "[UNK]", "[SEP]"]);
}

#[test]
fn a_bad_tokenizer_config_is_an_error_naming_the_file_and_key() {
    let dir = cased_vocab(Some(r#"{"do_lower_case": "no"}"#));
    let err = BertTokenizer::from_dir(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("tokenizer_config.json") && err.contains("do_lower_case is \"no\""),
        "{err}"
    );
    let dir = cased_vocab(Some("{not json"));
    let err = BertTokenizer::from_dir(dir.path()).err().unwrap().to_string();
    assert!(err.contains("tokenizer_config.json: not valid JSON"), "{err}");
}

#[test]
fn an_encoding_prints_as_a_table_of_its_tokens() {
    let tokenizer = BertTokenizer::from_dir(&model_dir()).unwrap();
    let enc = tokenizer.encode("Hello world", Some("pair")).unwrap();
    let table = enc.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "  pos       id  type  token");
    assert_eq!(lines.len(), enc.len() + 1);
    assert_eq!(lines[1], format!("    0  {:>7}     0  [CLS]", enc.input_ids[0]));
    assert!(lines.last().unwrap().ends_with("     1  [SEP]"), "{table}");
}
