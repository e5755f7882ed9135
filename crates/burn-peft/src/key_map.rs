//! [`KeyMap`]: how a Burn model's module paths are spelled in PEFT files.

/// Renames between a Burn model's module paths and the names PEFT (and Hugging Face) use for
/// the same modules, so that `target_modules` and adapter files mean the same on both sides.
///
/// A rename replaces a whole run of dot-separated path segments: Rust cannot name a field
/// `self`, so a port of BERT calls it `self_`; burn-nn names a layer list `layers` where HF says
/// `layer`. The empty map (the default) keeps every path as it is.
///
/// ```
/// use burn_peft::KeyMap;
///
/// let map = KeyMap::new().rename("self_", "self").rename("layers", "layer");
/// assert_eq!(map.to_peft("encoder.layers.0.attention.self_.query"), "encoder.layer.0.attention.self.query");
/// assert_eq!(map.to_burn("encoder.layer.0.attention.self.query"), "encoder.layers.0.attention.self_.query");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap {
    /// (Burn segments, PEFT segments), tried in order at each position.
    renames: Vec<(Vec<String>, Vec<String>)>,
}

impl KeyMap {
    /// The identity map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rename of the dot-separated segments `burn` (in Burn paths) to `peft` (in PEFT
    /// names). Earlier renames win where two match at the same place.
    pub fn rename(mut self, burn: &str, peft: &str) -> Self {
        let split = |s: &str| s.split('.').map(str::to_string).collect();
        self.renames.push((split(burn), split(peft)));
        self
    }

    /// The PEFT name of a Burn module path.
    pub fn to_peft(&self, burn_path: &str) -> String {
        self.apply(burn_path, |(from, to)| (from, to))
    }

    /// The Burn module path of a PEFT name.
    pub fn to_burn(&self, peft_name: &str) -> String {
        self.apply(peft_name, |(to, from)| (from, to))
    }

    fn apply<'a>(
        &'a self,
        path: &str,
        direction: impl Fn(&'a (Vec<String>, Vec<String>)) -> (&'a Vec<String>, &'a Vec<String>),
    ) -> String {
        let segments: Vec<&str> = path.split('.').collect();
        let mut out: Vec<&str> = Vec::with_capacity(segments.len());
        let mut i = 0;
        'segments: while i < segments.len() {
            for rename in &self.renames {
                let (from, to) = direction(rename);
                if segments[i..].len() >= from.len()
                    && segments[i..i + from.len()].iter().zip(from).all(|(s, f)| s == f)
                {
                    out.extend(to.iter().map(String::as_str));
                    i += from.len();
                    continue 'segments;
                }
            }
            out.push(segments[i]);
            i += 1;
        }
        out.join(".")
    }
}
