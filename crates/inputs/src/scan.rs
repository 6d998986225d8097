//! One pass of serde_json over the event that validates all of it and keeps
//! only what the rules read ([`Top`]). Values of interest are read with
//! visitors that accept any JSON type (a field of the wrong type makes a rule
//! fail, not the parse); everything else goes to [`IgnoredAny`], which
//! serde_json skips iteratively. Our own visitors nest at most four deep.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::rules::{Context, Records, Top, Version, lambda_url_domain, record_source, stream_arn_source};

/// The visitor methods of every JSON scalar but strings, answering `$value`:
/// a value of the wrong type makes a rule fail, never the parse.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// `text` summarised, or `None` if it is not one JSON object (or a field the
/// rules read is one serde_json refuses, such as a lone surrogate).
pub(crate) fn summarize(text: &str) -> Option<Top> {
    let mut de = serde_json::Deserializer::from_str(text);
    let top = Object::<Top>::new().deserialize(&mut de).ok()??;
    de.end().ok()?;
    Some(top)
}

/// An object whose named fields are read; `read` is called for every
/// occurrence of a field, so the last one wins.
trait Fields: Default {
    const NAMES: &'static [&'static str];
    fn read<'de, A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error>;
}

/// Reads an object's fields into `T`; `None` if the value is not an object.
struct Object<T>(PhantomData<T>);

impl<T> Object<T> {
    fn new() -> Self {
        Object(PhantomData)
    }
}

impl<'de, T: Fields> DeserializeSeed<'de> for Object<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Fields> Visitor<'de> for Object<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut fields = T::default();
        while let Some(key) = map.next_key_seed(Key(T::NAMES))? {
            match key {
                Some(field) => fields.read(field, &mut map)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(fields))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        drain(seq).map(|()| None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }
    scalars_are!(None);
}

/// Which of the names a key is, after unescaping.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|name| *name == key))
    }
}

/// A value the rules read if it is a string (`F` looks at it, unescaped) or
/// only need to know is an object.
struct Probe<F>(F);

enum Seen<T> {
    Str(T),
    Object,
    Other,
}

impl<T> Seen<T> {
    fn string(self) -> Option<T> {
        match self {
            Seen::Str(t) => Some(t),
            Seen::Object | Seen::Other => None,
        }
    }
}

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for Probe<F> {
    type Value = Seen<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for Probe<F> {
    type Value = Seen<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, s: &str) -> Result<Seen<T>, E> {
        Ok(Seen::Str((self.0)(s)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen<T>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Seen::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Seen<T>, A::Error> {
        drain(seq).map(|()| Seen::Other)
    }
    scalars_are!(Seen::Other);
}

/// Skips the rest of an array.
fn drain<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads the current map value with a [`Probe`] of `f`.
fn probe<'de, A: MapAccess<'de>, T>(map: &mut A, f: impl FnOnce(&str) -> T) -> Result<Seen<T>, A::Error> {
    map.next_value_seed(Probe(f))
}

/// Is the current value a string?
fn is_string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<bool, A::Error> {
    Ok(probe(map, |_| ())?.string().is_some())
}

/// Is the current value an object?
fn is_object<'de, A: MapAccess<'de>>(map: &mut A) -> Result<bool, A::Error> {
    Ok(matches!(probe(map, |_| ())?, Seen::Object))
}

impl Fields for Top {
    const NAMES: &'static [&'static str] = &[
        "Records",
        "requestContext",
        "version",
        "httpMethod",
        "resource",
        "detail-type",
        "source",
        "detail",
        "awslogs",
        "window",
        "eventSourceARN",
    ];
    fn read<'de, A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        match field {
            0 => self.records = Some(map.next_value_seed(RecordsSeed)?),
            1 => self.request_context = map.next_value_seed(Object::<Context>::new())?,
            2 => self.version = Some(probe(map, Version::of)?.string().unwrap_or(Version::Other)),
            3 => self.http_method = is_string(map)?,
            4 => self.resource = is_string(map)?,
            5 => self.detail_type = is_string(map)?,
            6 => self.source = is_string(map)?,
            7 => self.detail = is_object(map)?,
            8 => self.awslogs = map.next_value_seed(Object::<AwsLogs>::new())?.is_some_and(|l| l.data),
            9 => self.window = is_object(map)?,
            _ => self.event_source_arn = probe(map, stream_arn_source)?.string().flatten(),
        }
        Ok(())
    }
}

impl Fields for Context {
    const NAMES: &'static [&'static str] = &["apiId", "http", "elb", "domainName", "connectionId", "eventType"];
    fn read<'de, A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        match field {
            0 => self.api_id = is_string(map)?,
            1 => self.http = is_object(map)?,
            2 => self.elb = is_object(map)?,
            3 => self.lambda_url = probe(map, lambda_url_domain)?.string() == Some(true),
            4 => self.connection_id = is_string(map)?,
            _ => self.event_type = is_string(map)?,
        }
        Ok(())
    }
}

/// `awslogs`: is its `data` a string?
#[derive(Default)]
struct AwsLogs {
    data: bool,
}

impl Fields for AwsLogs {
    const NAMES: &'static [&'static str] = &["data"];
    fn read<'de, A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.data = is_string(map)?;
        Ok(())
    }
}

/// One element of `Records`: its `eventSource` and `EventSource` where
/// present, as [`source_name`] reads them.
#[derive(Default)]
struct Record {
    lower: Option<&'static str>,
    upper: Option<&'static str>,
}

/// The source names [`record_source`] knows; any other value (string or
/// not) reads as `""`, which it rejects, so that a field that is there still
/// counts as there.
fn source_name(s: &str) -> &'static str {
    ["aws:sqs", "aws:s3", "aws:dynamodb", "aws:kinesis", "aws:sns"].into_iter().find(|name| *name == s).unwrap_or("")
}

impl Fields for Record {
    const NAMES: &'static [&'static str] = &["eventSource", "EventSource"];
    fn read<'de, A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let name = Some(probe(map, source_name)?.string().unwrap_or(""));
        match field {
            0 => self.lower = name,
            _ => self.upper = name,
        }
        Ok(())
    }
}

/// `Records`: is it a non-empty array of records of one source?
struct RecordsSeed;

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = Records;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Records, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed {
    type Value = Records;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Records, A::Error> {
        let source = |record: Option<Record>| record.and_then(|r| record_source(r.lower, r.upper));
        let Some(first) = seq.next_element_seed(Object::<Record>::new())? else { return Ok(Records::Empty) };
        let Some(first) = source(first) else { return drain(seq).map(|()| Records::Invalid) };
        while let Some(record) = seq.next_element_seed(Object::<Record>::new())? {
            if source(record) != Some(first) {
                // The answer is known: skip the rest without reading it.
                return drain(seq).map(|()| Records::Invalid);
            }
        }
        Ok(Records::Uniform(first))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Records, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Records::Invalid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Records, E> {
        Ok(Records::Invalid)
    }
    scalars_are!(Records::Invalid);
}
