//! A small YAML reader shared by the job file formats: a tree with a line for every node
//! (built from saphyr-parser events), with the guards against hostile files; [`super::de`]
//! reads typed values from it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::ConfigError;

// ---------------------------------------------------------------------------------------
// A small YAML tree with a line for every node, built from saphyr-parser events.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// 1-based line where the node starts.
    pub(crate) line: usize,
    pub(crate) value: Value,
    /// Where a scalar is written in the text (`None` for lists, groups, and values copied
    /// by an alias): what a rewrite of one value splices.
    pub(crate) written: Option<Written>,
}

/// Where and how a scalar is written in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    /// Byte range of the value's text, quotes included.
    pub(crate) bytes: std::ops::Range<usize>,
    /// Plain, quoted (`'`, `"`) or a block scalar (`|`, `>`).
    pub(crate) style: ScalarStyle,
    /// Inside a flow list or group (`[...]`, `{...}`).
    pub(crate) in_flow: bool,
    /// Carries an anchor (`&name`) or a tag (`!tag`): the text is not only the value.
    pub(crate) decorated: bool,
}

/// The byte offset just past the closing quote of a quoted scalar starting at `start`.
fn quoted_end(text: &str, start: usize, style: ScalarStyle) -> Option<usize> {
    let quote = match style {
        ScalarStyle::SingleQuoted => '\'',
        ScalarStyle::DoubleQuoted => '"',
        _ => return None,
    };
    let rest = text.get(start..)?;
    let mut chars = rest.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && quote == '"' {
            chars.next();
        } else if c == quote {
            // `''` inside single quotes is one quote.
            if quote == '\'' && chars.peek().map(|(_, c)| *c) == Some('\'') {
                chars.next();
                continue;
            }
            return Some(start + i + 1);
        }
    }
    None
}

/// Converts the parser's character indices to byte offsets, moving forward only (the
/// parser's events come in text order), so a file is walked once.
struct ByteOffsets<'a> {
    text: &'a str,
    chars: usize,
    bytes: usize,
}

impl ByteOffsets<'_> {
    fn at(&mut self, char_index: usize) -> usize {
        if char_index < self.chars {
            // Never expected; start over rather than return a wrong offset.
            self.chars = 0;
            self.bytes = 0;
        }
        for c in self.text[self.bytes..].chars() {
            if self.chars == char_index {
                break;
            }
            self.chars += 1;
            self.bytes += c.len_utf8();
        }
        self.bytes
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// `plain`: unquoted and untagged, so subject to the core schema (null, bool, numbers).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The node without any `written` location (a copy made by an alias: its text is the
    /// anchor's).
    fn detached(mut self) -> Node {
        self.written = None;
        match &mut self.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => {
                *items = std::mem::take(items)
                    .into_iter()
                    .map(Node::detached)
                    .collect()
            }
            Value::Map(entries) => {
                *entries = std::mem::take(entries)
                    .into_iter()
                    .map(|(k, v)| (k.detached(), v.detached()))
                    .collect()
            }
        }
        self
    }

    /// The value under `key` of a group.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and the value under `key` of a group.
    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What was found, for messages. Never echoes a secret's value.
    pub(crate) fn found(&self, secret: bool) -> String {
        match &self.value {
            _ if self.is_null() => "nothing".into(),
            Value::Scalar { .. } if secret => "a value of the wrong type".into(),
            Value::Scalar { text, .. } => {
                let mut shown: String = text.chars().take(60).collect();
                if text.chars().count() > 60 {
                    shown.push('…');
                }
                format!("{shown:?}")
            }
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a group of `key: value` settings".into(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

enum Frame {
    Seq {
        flow: bool,
        line: usize,
        anchor: usize,
        items: Vec<Node>,
        size: Size,
    },
    Map {
        flow: bool,
        line: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        size: Size,
    },
}

/// How deep lists and groups may nest (the tree is walked recursively afterwards: a deeper
/// file would overflow the stack). Job files nest a handful of levels.
pub const MAX_DEPTH: usize = 64;
/// How many values (scalars, lists and groups) aliases (`*name`) may add to a file in all.
/// A "billion laughs" file nests aliases to expand a few lines into billions of values.
pub const MAX_ALIAS_VALUES: usize = 100_000;
/// How much text (bytes) aliases may add to a file in all.
pub const MAX_ALIAS_BYTES: usize = 10 * 1024 * 1024;

/// The size of a node's subtree: values, bytes of text, and height (levels of lists and
/// groups: 0 for a scalar).
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    values: usize,
    bytes: usize,
    height: usize,
}

impl Size {
    fn add_child(&mut self, child: Size) {
        self.values = self.values.saturating_add(child.values);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.height = self.height.max(child.height + 1);
    }
}

fn too_deep(line: usize) -> SyntaxError {
    SyntaxError {
        line: Some(line),
        message: format!(
            "lists and groups nest more than {MAX_DEPTH} levels deep here; a job file needs a few levels"
        ),
    }
}

/// Parse the text into the first document's root node (`None` for an empty stream).
///
/// Refuses files whose aliases (`*name`) expand to more than [`MAX_ALIAS_VALUES`] values or
/// [`MAX_ALIAS_BYTES`] bytes in all (checked before anything is copied), and lists and groups
/// nested more than [`MAX_DEPTH`] levels deep (aliases included).
pub(crate) fn load_tree(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut anchors: HashMap<usize, (Node, Size)> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut alias_values = 0usize;
    let mut alias_bytes = 0usize;
    let mut offsets = ByteOffsets {
        text,
        chars: 0,
        bytes: 0,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxError {
            line: Some(e.marker().line()),
            message: e.info().to_string(),
        })?;
        let line = span.start.line();
        let done: Option<(Node, usize, Size)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        line: Some(line),
                        message: "the file holds more than one YAML document (a second `---`); a job file holds one".into(),
                    });
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tagged_str = tag
                    .as_ref()
                    .is_some_and(|t| t.suffix == "str" || t.suffix.ends_with(":str"));
                let plain = style == ScalarStyle::Plain && !tagged_str;
                let size = Size {
                    values: 1,
                    bytes: value.len(),
                    height: 0,
                };
                let start = offsets.at(span.start.index());
                let end = offsets.at(span.end.index());
                // The parser's end of a quoted scalar can lie past a trailing comment: the
                // closing quote ends it.
                let end = quoted_end(text, start, style).unwrap_or(end);
                let written = Written {
                    bytes: start..end,
                    style,
                    in_flow: stack.iter().any(|f| match f {
                        Frame::Seq { flow, .. } | Frame::Map { flow, .. } => *flow,
                    }),
                    decorated: anchor > 0 || tag.is_some(),
                };
                Some((
                    Node {
                        line,
                        value: Value::Scalar {
                            text: value.into_owned(),
                            plain,
                        },
                        written: Some(written),
                    },
                    anchor,
                    size,
                ))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    // Checked before copying: a bomb is refused without being built.
                    alias_values = alias_values.saturating_add(size.values);
                    alias_bytes = alias_bytes.saturating_add(size.bytes);
                    if alias_values > MAX_ALIAS_VALUES || alias_bytes > MAX_ALIAS_BYTES {
                        return Err(SyntaxError {
                            line: Some(line),
                            message: format!(
                                "the aliases (`*name`) of this file expand to more than {MAX_ALIAS_VALUES} values or {} MiB of text (a \"billion laughs\" file?); a job file needs far fewer: write the values out",
                                MAX_ALIAS_BYTES / (1024 * 1024)
                            ),
                        });
                    }
                    if stack.len() + size.height > MAX_DEPTH {
                        return Err(too_deep(line));
                    }
                    Some((
                        Node {
                            line,
                            value: node.value.clone(),
                            written: None,
                        }
                        .detached(),
                        0,
                        *size,
                    ))
                }
                None => {
                    return Err(SyntaxError {
                        line: Some(line),
                        message: "unknown alias (`*name` without a matching `&name`)".into(),
                    });
                }
            },
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(line));
                }
                let flow = text[offsets.at(span.start.index())..].starts_with('[');
                stack.push(Frame::Seq {
                    flow,
                    line,
                    anchor,
                    items: Vec::new(),
                    size: Size {
                        values: 1,
                        bytes: 0,
                        height: 1,
                    },
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(line));
                }
                let flow = text[offsets.at(span.start.index())..].starts_with('{');
                stack.push(Frame::Map {
                    flow,
                    line,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    size: Size {
                        values: 1,
                        bytes: 0,
                        height: 1,
                    },
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    line,
                    anchor,
                    items,
                    size,
                    ..
                }) => Some((
                    Node {
                        line,
                        value: Value::Seq(items),
                        written: None,
                    },
                    anchor,
                    size,
                )),
                Some(Frame::Map {
                    line,
                    anchor,
                    entries,
                    size,
                    ..
                }) => Some((
                    Node {
                        line,
                        value: Value::Map(entries),
                        written: None,
                    },
                    anchor,
                    size,
                )),
                None => None,
            },
            _ => None,
        };
        if let Some((node, anchor, node_size)) = done {
            if anchor > 0 {
                anchors.insert(anchor, (node.clone(), node_size));
            }
            match stack.last_mut() {
                Some(Frame::Seq { items, size, .. }) => {
                    size.add_child(node_size);
                    items.push(node)
                }
                Some(Frame::Map {
                    entries, key, size, ..
                }) => {
                    size.add_child(node_size);
                    match key.take() {
                        Some(k) => {
                            // A block list or group under a key is reported at the key's line.
                            let mut node = node;
                            if !matches!(node.value, Value::Scalar { .. }) {
                                node.line = k.line;
                            }
                            entries.push((k, node))
                        }
                        None => *key = Some(node),
                    }
                }
                None => {
                    if root.is_none() {
                        root = Some(node);
                    }
                }
            }
        }
    }
    Ok(root)
}

/// A hint for the most common syntax slip: an unquoted cron expression starting with `*`.
pub(crate) fn syntax_hint(text: &str, line: Option<usize>) -> &'static str {
    let Some(line) = line else { return "" };
    let lines: Vec<&str> = text.lines().collect();
    let candidates = [line.checked_sub(1), line.checked_sub(2), Some(line)];
    for idx in candidates.into_iter().flatten() {
        if let Some(l) = lines.get(idx) {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix("frequency:")
                && rest.trim_start().starts_with('*')
            {
                return " (put the cron expression in quotes, e.g. frequency: '*/15 * * * *')";
            }
        }
    }
    ""
}

// ---------------------------------------------------------------------------------------
// Reading values.
// ---------------------------------------------------------------------------------------

/// The closest candidate to `input`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = input.to_lowercase();
    candidates
        .iter()
        .map(|c| (*c, strsim::jaro_winkler(&lower, &c.to_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

pub(crate) fn suggestion(input: &str, candidates: &[&str]) -> String {
    match did_you_mean(input, candidates) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Is this an absolute path on any platform (`/x`, `C:\x`, `C:/x`, `\\server\share`)?
pub(crate) fn is_absolute_anywhere(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with('/')
        || p.starts_with('\\')
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'\\' || b[2] == b'/'))
        || Path::new(p).is_absolute()
}

/// A job file's text and name, for its syntax errors.
pub(crate) struct Cx<'a> {
    pub(crate) file: String,
    pub(crate) text: &'a str,
}

impl<'a> Cx<'a> {
    /// A context for the job file at `path` holding `text`: messages name the file.
    pub(crate) fn for_file(text: &'a str, path: &Path) -> Self {
        Cx {
            file: path.display().to_string(),
            text,
        }
    }

    /// The file's root node (`None` for an empty stream), or its YAML syntax error with a hint.
    pub(crate) fn load_root(&self) -> Result<Option<Node>, ConfigError> {
        load_tree(self.text).map_err(|e| ConfigError::Syntax {
            file: self.file.clone(),
            line: e.line,
            message: format!("{}{}", e.message, syntax_hint(self.text, e.line)),
        })
    }
}

/// What names the job file in the errors about its values: the YAML tree's [`Cx`], the
/// deserializer's context (`de::Ctx`), or the file name itself.
pub(crate) trait InFile {
    /// The job file's name.
    fn file(&self) -> &str;

    /// The error of an invalid value: `key` on `line` of the file, and what is wrong with it.
    fn invalid(&self, key: &str, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file().to_string(),
            key: key.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }
}

impl InFile for str {
    fn file(&self) -> &str {
        self
    }
}

impl InFile for Cx<'_> {
    fn file(&self) -> &str {
        &self.file
    }
}

/// The `key: value` entries of a mapping node, with `<<` merge keys expanded (explicit keys
/// win) and duplicate keys refused. `prefix` names nested keys (`files[0].`) in errors about
/// the file `file`.
pub(crate) fn entries_of<'n>(
    file: &str,
    node: &'n Node,
    prefix: &str,
) -> Result<Vec<(String, usize, &'n Node)>, ConfigError> {
    let Value::Map(pairs) = &node.value else {
        unreachable!("entries_of() is only called on mappings")
    };
    let mut out: Vec<(String, usize, &'n Node)> = Vec::new();
    let mut merged: Vec<(String, usize, &'n Node)> = Vec::new();
    // Name -> line of its first definition: one lookup per key (linear in the keys).
    let mut first_line: HashMap<String, usize> = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        let name = match &k.value {
            Value::Scalar { text, .. } => text.clone(),
            _ => {
                return Err(file.invalid(
                    &format!("{prefix}?"),
                    k.line,
                    "a key must be a plain name, not a list or a group",
                ));
            }
        };
        if name == "<<" && matches!(&k.value, Value::Scalar { plain: true, .. }) {
            let sources: Vec<&Node> = match &v.value {
                Value::Map(_) => vec![v],
                Value::Seq(items) => items.iter().collect(),
                _ => vec![],
            };
            for src in sources {
                if matches!(src.value, Value::Map(_)) {
                    merged.extend(entries_of(file, src, prefix)?);
                }
            }
            continue;
        }
        if let Some(first) = first_line.get(&name) {
            return Err(file.invalid(
                &format!("{prefix}{name}"),
                k.line,
                format!(
                    "is defined twice, on line {first} and on line {}: keep only one",
                    k.line
                ),
            ));
        }
        first_line.insert(name.clone(), k.line);
        out.push((name, k.line, v));
    }
    let mut seen: HashSet<String> = first_line.into_keys().collect();
    for m in merged {
        if seen.insert(m.0.clone()) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Why a value cannot be sent in an HTTP header, if it cannot: a line break or another
/// control character (a tab is allowed). Names the character, never the value (header values
/// and tokens are secrets).
pub(crate) fn header_value_problem(value: &str) -> Option<String> {
    let c = value
        .chars()
        .find(|&c| (c < ' ' && c != '\t') || c == '\u{7f}')?;
    let what = match c {
        '\n' | '\r' => "a line break".to_string(),
        c => format!("the control character U+{:04X}", c as u32),
    };
    Some(format!(
        "contains {what}, which cannot be sent in an HTTP header: write the value on one line, without control characters (if it was pasted, copy it again in full)"
    ))
}
