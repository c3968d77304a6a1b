//! A serde [`Deserializer`](serde::Deserializer) over the YAML tree of [`super::yaml`], so
//! that job files are read into `#[derive(Deserialize)]` structs.
//!
//! - Scalars follow the YAML 1.2 core schema the job formats always used: where text is
//!   expected any scalar is its text (`password: 123456` is `"123456"`); `deserialize_any`
//!   (free-form JSON such as `where:` or `rows:`) reads plain scalars as null, booleans and
//!   numbers, quoted ones as text. Whole numbers may be quoted and written `1_000`.
//! - A key whose value is null (`key:` or `key: ~`) is the same as a missing key.
//! - Unknown keys of a struct are not errors: they are skipped with a warning and a
//!   did-you-mean against the struct's fields.
//! - An enum over a mapping is tagged by its `type` key (`- type: pull`, `source: {type:
//!   sql, ...}`); an enum over a scalar is one of its variants, case-insensitive.
//! - Errors name the file, the key path (`operations[0].source.url`) and the line. Values
//!   raise them with `de::Error::custom`; [`FOUND`] in the message is replaced by what the
//!   file holds there (never a secret's value).
//! - [`Spanned`] captures the key path and line of a value, for checks made after
//!   deserializing (in `validate` passes).

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::yaml::{
    InFile, Node, Value, did_you_mean, entries_of, is_absolute_anywhere, suggestion,
};
use super::{ConfigError, ConfigWarning};

/// Stands for "what the file holds here" in error messages raised by values.
pub(crate) const FOUND: &str = "\u{1}found\u{1}";

/// How messages name a struct or an enum of a job format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The Rust name (or `#[serde(rename)]`) of the struct or enum.
    pub(crate) name: &'static str,
    /// Appended to "unknown key" warnings: ` in a push operation`.
    pub(crate) context: &'static str,
    /// What was expected when the value is not a mapping: `the source settings (...)`.
    pub(crate) expected: &'static str,
    /// Hints for required keys, shown as "`key` is required: <hint>".
    pub(crate) required: &'static [(&'static str, &'static str)],
    /// Tagged enums: the variant used when `type` is left out.
    pub(crate) default_tag: Option<&'static str>,
    /// Keys that belong elsewhere: warned about with this message instead of "unknown key".
    pub(crate) misplaced: &'static [(&'static str, &'static str)],
    /// Keys whose null value means something (it is not the same as a missing key).
    pub(crate) keep_null: &'static [&'static str],
    /// Keys holding lists, with what the list holds for messages when it is not a list.
    pub(crate) lists: &'static [(&'static str, &'static str)],
}

impl Shape {
    pub(crate) const fn new(name: &'static str) -> Self {
        Shape {
            name,
            context: "",
            expected: "`key: value` settings",
            required: &[],
            default_tag: None,
            misplaced: &[],
            keep_null: &[],
            lists: &[],
        }
    }
}

/// The file being read: its name for messages, its folder for relative paths, the shapes of
/// its structs, and the warnings found so far.
pub(crate) struct Ctx {
    pub(crate) file: String,
    pub(crate) base_dir: PathBuf,
    pub(crate) shapes: &'static [Shape],
    pub(crate) warnings: RefCell<Vec<ConfigWarning>>,
    /// The fields of the flattened structs read so far (see [`FLATTEN`]).
    flattened: RefCell<Vec<&'static [&'static str]>>,
}

impl InFile for Ctx {
    fn file(&self) -> &str {
        &self.file
    }
}

impl Ctx {
    pub(crate) fn new(path: &Path, shapes: &'static [Shape]) -> Self {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ctx {
            file: path.display().to_string(),
            base_dir: absolute.parent().map(Path::to_path_buf).unwrap_or_default(),
            shapes,
            warnings: RefCell::new(Vec::new()),
            flattened: RefCell::new(Vec::new()),
        }
    }

    fn shape(&self, name: &str) -> Shape {
        self.shapes
            .iter()
            .find(|s| s.name == name)
            .copied()
            .unwrap_or(Shape::new(""))
    }

    pub(crate) fn warn(&self, key: &str, line: usize, message: impl Into<String>) {
        self.warnings.borrow_mut().push(ConfigWarning {
            file: self.file.clone(),
            key: Some(key.to_string()),
            line: Some(line),
            message: message.into(),
        });
    }

    /// `p` made absolute against the job file's folder (`C:\x` and `\\server` are kept).
    pub(crate) fn absolute(&self, p: &str) -> PathBuf {
        if is_absolute_anywhere(p) || p == ":memory:" {
            PathBuf::from(p)
        } else {
            self.base_dir.join(p)
        }
    }

    /// Deserialize `T` from the root node.
    pub(crate) fn read<T: DeserializeOwned>(&self, root: &Node) -> Result<T, ConfigError> {
        T::deserialize(NodeDe::new(self, root, String::new()))
            .map_err(|e| e.into_config(self, root))
    }

    /// The warnings, in line order.
    pub(crate) fn into_warnings(self) -> Vec<ConfigWarning> {
        let mut w = self.warnings.into_inner();
        w.sort_by_key(|w| w.line);
        w
    }
}

/// A deserialization error: located (a [`ConfigError`]) or still to be located by the value
/// that raised it.
#[derive(Debug)]
pub(crate) enum Error {
    Located(ConfigError),
    Message(String),
    Missing(&'static str),
}

impl Error {
    fn locate(self, ctx: &Ctx, path: &str, node: &Node) -> Error {
        match self {
            Error::Message(m) => {
                Error::Located(ctx.invalid(path, node.line, m.replace(FOUND, &node.found(false))))
            }
            e => e,
        }
    }

    /// The error as a [`ConfigError`], `node` being the root of the file of `ctx`.
    fn into_config(self, ctx: &Ctx, node: &Node) -> ConfigError {
        match self.locate(ctx, "", node) {
            Error::Located(e) => e,
            e => ctx.invalid("", node.line, e.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Located(e) => e.fmt(f),
            Error::Message(m) => f.write_str(m),
            Error::Missing(k) => write!(f, "`{k}` is required"),
        }
    }
}

impl std::error::Error for Error {}

/// "`a` or `b`" for two choices, "one of `a`, `b`, `c`" for more.
pub(crate) fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [a, b] => format!("{a} or {b}"),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }

    fn invalid_type(_: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error::Message(format!("expected {exp}, found {FOUND}"))
    }

    fn invalid_value(_: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error::Message(format!("expected {exp}, found {FOUND}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::Message(format!(
            "must be {}, found {FOUND}{}",
            one_of(expected),
            suggestion(variant, expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::Missing(field)
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A deserializer for one node.
pub(crate) struct NodeDe<'a> {
    ctx: &'a Ctx,
    node: &'a Node,
    path: String,
    /// Skip this key of a mapping: the `type` tag of an enum variant's settings.
    tag: Option<&'static str>,
    /// Read as a list even when it is a single value, its items named by its own path
    /// (see [`ONE_OR_MANY`]).
    one_or_many: bool,
    /// A struct read from the mapping of the struct holding it (see [`FLATTEN`]).
    flattened: bool,
    /// What the list expected here holds, for messages (see [`Shape::lists`]).
    list: Option<&'static str>,
}

/// A field renamed `$flatten` reads its struct from the same mapping as the struct holding
/// it (like `#[serde(flatten)]`, which reads through serde's buffer and would lose the lines
/// and the warnings). Keys neither struct knows are warned about by the holder.
pub(crate) const FLATTEN: &str = "$flatten";

/// The name of a newtype struct read as a list even when the file holds a single value
/// (`run_hooks: insert`), whose items are named by the list's key in messages.
pub(crate) const ONE_OR_MANY: &str = "$one_or_many";

impl<'a> NodeDe<'a> {
    fn new(ctx: &'a Ctx, node: &'a Node, path: String) -> Self {
        NodeDe {
            ctx,
            node,
            path,
            tag: None,
            one_or_many: false,
            flattened: false,
            list: None,
        }
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.value {
            Value::Scalar { text, plain } => Some((text, *plain)),
            _ => None,
        }
    }

    fn entries(&self) -> Result<Vec<(String, usize, &'a Node)>, Error> {
        let prefix = if self.path.is_empty() {
            String::new()
        } else {
            format!("{}.", self.path)
        };
        entries_of(&self.ctx.file, self.node, &prefix).map_err(Error::Located)
    }

    fn expected(&self, what: &str) -> Error {
        Error::Located(self.ctx.invalid(
            &self.path,
            self.node.line,
            format!("expected {what}, found {}", self.node.found(false)),
        ))
    }
}

/// A whole number (`1_000`, `+5`, `"12"`, `3.0`) from a scalar's text.
fn whole(text: &str) -> Option<u64> {
    let t = text.trim().replace('_', "");
    let t = t.strip_prefix('+').unwrap_or(&t);
    match t.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => match t.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && (0.0..1e19).contains(&f) => Some(f as u64),
            _ => None,
        },
    }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            return visitor.visit_unit();
        }
        match &self.node.value {
            // Quoted text is visited as an owned string, plain text as a borrowed one: a
            // visitor that cares (`write_back.value: now`) can tell them apart.
            Value::Scalar { text, plain: false } => visitor.visit_string(text.clone()),
            Value::Scalar { text, plain: true } => {
                match text.as_str() {
                    "true" | "True" | "TRUE" => return visitor.visit_bool(true),
                    "false" | "False" | "FALSE" => return visitor.visit_bool(false),
                    _ => {}
                }
                if let Ok(i) = text.parse::<u64>() {
                    return visitor.visit_u64(i);
                }
                if let Ok(i) = text.parse::<i64>() {
                    return visitor.visit_i64(i);
                }
                if text
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
                    && let Ok(f) = text.parse::<f64>()
                    && f.is_finite()
                {
                    return visitor.visit_f64(f);
                }
                visitor.visit_str(text)
            }
            Value::Seq(_) => self.deserialize_seq(visitor),
            Value::Map(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let wrong = || self.expected("true or false");
        let Some((text, _)) = self.scalar() else {
            return Err(wrong());
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            v @ ("yes" | "on" | "no" | "off") => {
                let b = matches!(v, "yes" | "on");
                self.ctx.warn(
                    &self.path,
                    self.node.line,
                    format!("`{text}` is read as {b}; write `{b}` (in YAML 1.2 `{text}` is text)"),
                );
                visitor.visit_bool(b)
            }
            _ => Err(wrong()),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.scalar().and_then(|(t, _)| whole(t)) {
            Some(n) => visitor.visit_u64(n),
            None => Err(de::Error::invalid_type(
                de::Unexpected::Other("?"),
                &visitor,
            )),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.scalar() {
            _ if self.node.is_null() => visitor.visit_str(""),
            Some((text, _)) => visitor.visit_str(text),
            None => Err(self.expected("text")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut de = self;
        de.one_or_many = name == ONE_OR_MANY;
        visitor.visit_newtype_struct(de)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let items = match &self.node.value {
            Value::Seq(items) => items.as_slice(),
            _ if self.node.is_null() => &[],
            Value::Scalar { .. } if self.one_or_many => std::slice::from_ref(self.node),
            _ if self.list.is_some() => return Err(self.expected(self.list.unwrap_or_default())),
            _ => {
                // The visitor's own words, unless it has none better than serde's.
                let what = (&visitor as &dyn de::Expected).to_string();
                let what = if what == "a sequence" {
                    "a list"
                } else {
                    &what
                };
                return Err(self.expected(what));
            }
        };
        visitor.visit_seq(Items {
            ctx: self.ctx,
            items: items.iter(),
            path: self.path,
            index: 0,
            indexed: !self.one_or_many,
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if !matches!(self.node.value, Value::Map(_)) {
            return Err(self.expected("`key: value` settings"));
        }
        let entries = self.entries()?;
        visitor.visit_map(Entries {
            ctx: self.ctx,
            entries: entries.into_iter(),
            path: self.path,
            value: None,
            fields: None,
            lists: &[],
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED {
            return visitor.visit_map(SpannedAccess {
                de: Some(self),
                step: 0,
            });
        }
        let shape = self.ctx.shape(name);
        if !matches!(self.node.value, Value::Map(_)) {
            return Err(self.expected(shape.expected));
        }
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for (key, line, value) in self.entries()? {
            if fields.contains(&key.as_str()) {
                if !value.is_null() || shape.keep_null.contains(&key.as_str()) {
                    known.push((key, line, value));
                }
            } else if Some(key.as_str()) != self.tag && !self.flattened {
                unknown.push((key, line));
            }
        }
        if self.flattened {
            // The struct that holds this one warns about keys neither knows.
            self.ctx.flattened.borrow_mut().push(fields);
        }
        let flattened_before = self.ctx.flattened.borrow().len();
        if fields.contains(&FLATTEN) {
            known.push((FLATTEN.to_string(), self.node.line, self.node));
        }
        let (ctx, node, path) = (self.ctx, self.node, self.path.clone());
        visitor
            .visit_map(Entries {
                ctx,
                entries: known.into_iter(),
                path: self.path,
                value: None,
                fields: Some(fields),
                lists: shape.lists,
            })
            .inspect(|_| {
                // Unknown keys: warned about once the fields of flattened structs are known.
                let mut all: Vec<&str> = fields.iter().copied().filter(|f| *f != FLATTEN).collect();
                all.extend(
                    ctx.flattened
                        .borrow_mut()
                        .drain(flattened_before..)
                        .flatten()
                        .copied(),
                );
                for (key, line) in &unknown {
                    if all.contains(&key.as_str()) {
                        continue;
                    }
                    let message = match shape.misplaced.iter().find(|(k, _)| k == key) {
                        Some((_, why)) => why.to_string(),
                        None => match did_you_mean(key, &all) {
                            Some(c) => format!(
                                "unknown key{}, ignored: did you mean `{c}`?",
                                shape.context
                            ),
                            None => format!("unknown key{}, ignored", shape.context),
                        },
                    };
                    ctx.warn(&child(&path, key), *line, message);
                }
            })
            .map_err(|e| match e {
                Error::Missing(field) => {
                    let hint = shape
                        .required
                        .iter()
                        .find(|(k, _)| *k == field)
                        .map_or("", |(_, h)| *h);
                    if path.is_empty() {
                        Error::Located(ConfigError::Missing {
                            file: ctx.file.clone(),
                            key: field.to_string(),
                            hint: hint.to_string(),
                        })
                    } else {
                        Error::Located(ctx.invalid(
                            &child(&path, field),
                            node.line,
                            format!("is required: {hint}"),
                        ))
                    }
                }
                e => e,
            })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let tagged = self.ctx.shapes.iter().any(|s| s.name == name);
        if !tagged {
            return match &self.node.value {
                Value::Scalar { text, .. } => {
                    let wanted = text.trim().to_lowercase();
                    visitor
                        .visit_enum(UnitVariant {
                            name: wanted,
                            _e: std::marker::PhantomData,
                        })
                        .map_err(|e| e.locate(self.ctx, &self.path, self.node))
                }
                _ => Err(self.expected("text")),
            };
        }
        let shape = self.ctx.shape(name);
        if !matches!(self.node.value, Value::Map(_)) {
            return Err(self.expected(shape.expected));
        }
        let tag_key = "type";
        let tag_node = self
            .entries()?
            .into_iter()
            .find(|(k, _, _)| k == tag_key)
            .map(|(_, _, v)| v)
            .filter(|v| !v.is_null());
        let tag_path = child(&self.path, tag_key);
        let tag = match tag_node {
            Some(t) => match &t.value {
                Value::Scalar { text, .. } => text.trim().to_lowercase(),
                _ => {
                    return Err(Error::Located(self.ctx.invalid(
                        &tag_path,
                        t.line,
                        format!("expected text, found {}", t.found(false)),
                    )));
                }
            },
            None => match shape.default_tag {
                Some(d) => d.to_string(),
                None => {
                    let names = match variants {
                        [a, b] => format!("`{a}` or `{b}`"),
                        _ => format!("one of {}", variants.join(", ")),
                    };
                    return Err(Error::Located(self.ctx.invalid(
                        &tag_path,
                        self.node.line,
                        format!("is required: {names}"),
                    )));
                }
            },
        };
        let tag_node = tag_node.unwrap_or(self.node);
        visitor.visit_enum(Tagged {
            de: self,
            tag,
            tag_path,
            tag_node,
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct identifier
    }
}

struct Items<'a> {
    ctx: &'a Ctx,
    items: std::slice::Iter<'a, Node>,
    path: String,
    index: usize,
    /// Items are named `list[0]`, `list[1]`, ... (else `list`).
    indexed: bool,
}

impl<'de, 'a> SeqAccess<'de> for Items<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = if self.indexed {
            format!("{}[{}]", self.path, self.index)
        } else {
            self.path.clone()
        };
        self.index += 1;
        seed.deserialize(NodeDe::new(self.ctx, node, path.clone()))
            .map(Some)
            .map_err(|e| e.locate(self.ctx, &path, node))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'a> {
    ctx: &'a Ctx,
    entries: std::vec::IntoIter<(String, usize, &'a Node)>,
    path: String,
    value: Option<(String, &'a Node, bool, Option<&'static str>)>,
    fields: Option<&'static [&'static str]>,
    lists: &'static [(&'static str, &'static str)],
}

impl<'de, 'a> MapAccess<'de> for Entries<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, _line, node)) = self.entries.next() else {
            return Ok(None);
        };
        let path = if key == FLATTEN {
            self.path.clone()
        } else {
            child(&self.path, &key)
        };
        // Struct fields are `&'static str`: hand out the field's own name.
        let k = match self.fields.and_then(|f| f.iter().find(|f| **f == key)) {
            Some(f) => seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(f))?,
            None => seed.deserialize(de::value::StrDeserializer::<Error>::new(&key))?,
        };
        let list = self.lists.iter().find(|(k, _)| *k == key).map(|(_, l)| *l);
        self.value = Some((path, node, key == FLATTEN, list));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (path, node, flattened, list) = self.value.take().expect("a key before its value");
        let mut de = NodeDe::new(self.ctx, node, path.clone());
        de.flattened = flattened;
        de.list = list;
        seed.deserialize(de)
            .map_err(|e| e.locate(self.ctx, &path, node))
    }
}

struct UnitVariant<E> {
    name: String,
    _e: std::marker::PhantomData<E>,
}

impl<'de> EnumAccess<'de> for UnitVariant<Error> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let v = seed.deserialize(de::value::StrDeserializer::<Error>::new(&self.name))?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<Error> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, Error> {
        Err(de::Error::custom(format!("`{}` needs settings", self.name)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!("`{}` needs settings", self.name)))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!("`{}` needs settings", self.name)))
    }
}

/// An enum over a mapping: the variant named by its `type` key, read from the same mapping.
struct Tagged<'a> {
    de: NodeDe<'a>,
    tag: String,
    tag_path: String,
    tag_node: &'a Node,
}

impl<'de, 'a> EnumAccess<'de> for Tagged<'a> {
    type Error = Error;
    type Variant = NodeDe<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, NodeDe<'a>), Error> {
        let v = seed
            .deserialize(de::value::StrDeserializer::<Error>::new(&self.tag))
            .map_err(|e: Error| e.locate(self.de.ctx, &self.tag_path, self.tag_node))?;
        let mut de = self.de;
        de.tag = Some("type");
        Ok((v, de))
    }
}

impl<'de, 'a> VariantAccess<'de> for NodeDe<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

// ---------------------------------------------------------------------------------------
// Spanned: a value with its key path and line.
// ---------------------------------------------------------------------------------------

const SPANNED: &str = "$spanned";
const SPANNED_FIELDS: &[&str] = &["$key", "$line", "$value"];

/// A value with the key path and line it was read from, for checks made after
/// deserializing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned<T> {
    pub(crate) key: String,
    pub(crate) line: usize,
    pub(crate) value: T,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

struct SpannedAccess<'a> {
    de: Option<NodeDe<'a>>,
    step: usize,
}

impl<'de, 'a> MapAccess<'de> for SpannedAccess<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(name) = SPANNED_FIELDS.get(self.step) else {
            return Ok(None);
        };
        seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.step += 1;
        let de = self.de.as_ref().expect("spanned value read once");
        match self.step {
            1 => seed.deserialize(de::value::StrDeserializer::<Error>::new(&de.path)),
            2 => seed.deserialize(de::value::U64Deserializer::<Error>::new(
                de.node.line as u64,
            )),
            _ => seed.deserialize(self.de.take().expect("spanned value read once")),
        }
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
                let _: Option<String> = map.next_key()?;
                let key: String = map.next_value()?;
                let _: Option<String> = map.next_key()?;
                let line: u64 = map.next_value()?;
                let _: Option<String> = map.next_key()?;
                let value: T = map.next_value()?;
                Ok(Spanned {
                    key,
                    line: line as usize,
                    value,
                })
            }
        }
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, V(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------
// Values with their own checks.
// ---------------------------------------------------------------------------------------

/// A whole number ≥ `MIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Whole<const MIN: u64>(pub(crate) u64);

impl<'de, const MIN: u64> de::Deserialize<'de> for Whole<MIN> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: u64>;
        impl<'de, const MIN: u64> Visitor<'de> for V<MIN> {
            type Value = Whole<MIN>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number ≥ {MIN}")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Whole<MIN>, E> {
                if n < MIN {
                    return Err(E::invalid_value(de::Unexpected::Unsigned(n), &self));
                }
                Ok(Whole(n))
            }
        }
        d.deserialize_u64(V::<MIN>)
    }
}

/// Text where an empty value means "not set" (names, descriptions): trimmed, `None` when
/// empty. For `#[serde(default, deserialize_with = "name")]`.
pub(crate) fn name<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = de::Deserialize::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// [`name`] with its key path and line.
pub(crate) fn spanned_name<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Option<Spanned<String>>, D::Error> {
    let s: Option<Spanned<String>> = de::Deserialize::deserialize(d)?;
    Ok(s.map(|s| Spanned {
        value: s.value.trim().to_string(),
        ..s
    })
    .filter(|s| !s.value.is_empty()))
}

impl<'de> de::Deserialize<'de> for crate::secret::Secret {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Any scalar is its text; errors never show the value (FOUND only names lists and
        // groups: a scalar is always accepted).
        String::deserialize(d).map(crate::secret::Secret::new)
    }
}

/// A list of pairs from a mapping, in the file's order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pairs<T>(pub(crate) Vec<(Spanned<String>, T)>);

impl<T> Default for Pairs<T> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Pairs<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Pairs<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`key: value` settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: Spanned<T> = map.next_value()?;
                    out.push((
                        Spanned {
                            key: v.key,
                            line: v.line,
                            value: k,
                        },
                        v.value,
                    ));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::load_tree;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(rename = "$flatten")]
        more: More,
    }

    #[derive(Deserialize)]
    struct Inner {
        count: Whole<1>,
        #[serde(default)]
        flag: Option<Spanned<bool>>,
    }

    #[derive(Deserialize)]
    struct More {
        #[serde(default)]
        extra: Option<String>,
    }

    const SHAPES: &[Shape] = &[Shape {
        context: " in `inner`",
        required: &[("count", "how many")],
        ..Shape::new("Inner")
    }];

    fn read(text: &str) -> (Result<Outer, ConfigError>, Vec<ConfigWarning>) {
        let root = load_tree(text).unwrap().unwrap();
        let ctx = Ctx::new(Path::new("/j/t.yml"), SHAPES);
        let r = ctx.read::<Outer>(&root);
        (r, ctx.into_warnings())
    }

    #[test]
    fn unknown_keys_are_warnings_with_a_did_you_mean_over_flattened_fields() {
        let (r, w) = read("name: a\nextr: 1\ninner:\n  count: 2\n  flg: yes\n");
        let o = r.unwrap();
        assert_eq!(o.name, "a");
        assert_eq!(o.inner.unwrap().count, Whole(2));
        assert!(o.more.extra.is_none());
        let shown: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            shown,
            [
                "/j/t.yml:2: `extr`: unknown key, ignored: did you mean `extra`?",
                "/j/t.yml:5: `inner.flg`: unknown key in `inner`, ignored: did you mean `flag`?",
            ]
        );
    }

    #[test]
    fn errors_name_the_key_path_the_line_and_what_was_found() {
        let (r, _) = read("name: a\ninner:\n  count: many\n");
        assert_eq!(
            r.err().unwrap().to_string(),
            "/j/t.yml:3: `inner.count`: expected a whole number ≥ 1, found \"many\""
        );
        let (r, _) = read("name: a\ninner:\n  flag: true\n");
        assert_eq!(
            r.err().unwrap().to_string(),
            "/j/t.yml:2: `inner.count`: is required: how many"
        );
        let (r, _) = read("inner: {count: 1}\n");
        assert!(matches!(r, Err(ConfigError::Missing { key, .. }) if key == "name"));
        let (r, _) = read("name: [a]\n");
        assert_eq!(
            r.err().unwrap().to_string(),
            "/j/t.yml:1: `name`: expected text, found a list"
        );
    }

    #[test]
    fn null_is_a_missing_key_and_spans_carry_the_line() {
        let (r, w) = read("name: a\nextra: ~\ninner:\n  count: 1\n  flag: on\n");
        let o = r.unwrap();
        assert!(o.more.extra.is_none());
        let flag = o.inner.unwrap().flag.unwrap();
        assert_eq!(
            (flag.key.as_str(), flag.line, flag.value),
            ("inner.flag", 5, true)
        );
        assert_eq!(w.len(), 1, "`on` is read as true, with a warning: {w:?}");
    }
}
