//! The one parser of request bodies. A body is a JSON object with no duplicate keys at any depth;
//! an object is never read from an array (serde would fill a struct positionally); an integer
//! may be written `21.0`, as JSON Schema allows; and errors speak of the API's fields, never of
//! the Rust types behind them.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;

use crate::error::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses a request body into `T`, or says what is wrong with it in the contract's terms.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Json::deserialize_unique(&mut de).map_err(|err| {
        if err.is_data() {
            ApiError::bad_request(strip_position(&err.to_string()))
        } else {
            ApiError::bad_request("the body is not valid JSON")
        }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_request("the body is not valid JSON"))?;
    if !matches!(value, Json::Object(_)) {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(&value).map_err(|err| {
        let path = err.path().to_string();
        let path = (!path.is_empty() && path != ".").then_some(path);
        explain(path, &err.into_inner())
    })
}

/// A JSON value read without losing what serde_json's `Value` forgets: it refuses duplicate
/// keys while parsing and keeps object keys in order.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    fn deserialize_unique<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> DeserializeSeed<'de> for UniqueVisitor {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number is out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueVisitor)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(UniqueVisitor)?;
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key `{key}` appears more than once"
                )));
            }
            fields.insert(key, value);
        }
        Ok(Json::Object(fields))
    }
}

type Error = serde_json::Error;

/// Every integer width reads as `deserialize_i64` does, so `21.0` is 21 whatever the field's type.
macro_rules! forward_to_whole_number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_i64(visitor)
        }
    )*};
}

/// Reads a [`Json`] into a request type strictly: structs only from objects, enums only from
/// strings, integers also from floats without a fraction.
impl<'de> Deserializer<'de> for &'de Json {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(*b),
            Json::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => visitor.visit_borrowed_str(s),
            Json::Array(items) => visitor.visit_seq(SeqDeserializer::new(items.iter())),
            Json::Object(fields) => visitor.visit_map(MapDeserializer::new(
                fields.iter().map(|(k, v)| (k.as_str(), v)),
            )),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Object(_) => self.deserialize_any(visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Json::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.whole_number() {
            Some(n) if n < 0 => visitor.visit_i64(n as i64),
            Some(n) if n <= u64::MAX as i128 => visitor.visit_u64(n as u64),
            _ => self.deserialize_any(visitor),
        }
    }

    forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct
        identifier ignored_any
    }

    forward_to_whole_number! {
        deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
    }
}

impl Json {
    /// An integer, also when written with a zero fraction (`21.0`).
    fn whole_number(&self) -> Option<i128> {
        let Json::Number(n) = self else { return None };
        if let Some(u) = n.as_u64() {
            return Some(u.into());
        }
        if let Some(i) = n.as_i64() {
            return Some(i.into());
        }
        let f = n.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i128)
    }

    fn invalid_type(&self, expected: &dyn de::Expected) -> Error {
        let unexpected = match self {
            Json::Null => de::Unexpected::Unit,
            Json::Bool(b) => de::Unexpected::Bool(*b),
            Json::Number(_) => de::Unexpected::Other("number"),
            Json::String(_) => de::Unexpected::Other("string"),
            Json::Array(_) => de::Unexpected::Seq,
            Json::Object(_) => de::Unexpected::Map,
        };
        de::Error::invalid_type(unexpected, expected)
    }
}

impl<'de> IntoDeserializer<'de, Error> for &'de Json {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// Turns serde's account of a mismatch into the contract's: a wrong shape is `400 bad_request`,
/// a well-formed value outside a closed set or a range is `422 validation_failed`, and the
/// message names the field and what it takes, never a Rust type.
fn explain(path: Option<String>, err: &Error) -> ApiError {
    let text = strip_position(&err.to_string());
    if let Some(field) = between(&text, "unknown field `", "`") {
        // The path already ends at the unknown key.
        let field = path.unwrap_or_else(|| field.to_owned());
        return ApiError::bad_field(field.clone(), format!("`{field}` is not accepted here"));
    }
    if let Some(field) = between(&text, "missing field `", "`") {
        let field = match &path {
            Some(parent) => format!("{parent}.{field}"),
            None => field.to_owned(),
        };
        return ApiError::bad_field(field.clone(), format!("`{field}` is required"));
    }
    let field = path.unwrap_or_default();
    let name = if field.is_empty() { "the body" } else { &field };
    if text.starts_with("unknown variant") {
        let allowed = text
            .split_once("expected ")
            .map(|(_, rest)| rest.replace("one of ", "").replace('`', ""))
            .unwrap_or_default();
        return ApiError::validation(field.clone(), format!("`{name}` must be one of {allowed}"));
    }
    if text.starts_with("invalid value: integer") {
        return ApiError::validation(field.clone(), format!("`{name}` is out of range"));
    }
    if let Some(expected) = text.split_once(", expected ").map(|(_, e)| e) {
        let wanted = friendly(expected);
        return ApiError::BadRequest {
            message: format!("`{name}` must be {wanted}"),
            field: Some(field).filter(|f| !f.is_empty()),
        };
    }
    ApiError::BadRequest {
        message: format!("`{name}` is not valid here"),
        field: Some(field).filter(|f| !f.is_empty()),
    }
}

fn friendly(expected: &str) -> &'static str {
    const INTEGERS: [&str; 9] = [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "integer",
    ];
    if INTEGERS.iter().any(|t| expected.contains(t)) {
        "an integer"
    } else if expected.contains("bool") {
        "true or false"
    } else if expected.contains("string") || expected.contains("variant") {
        "a string"
    } else if expected.contains("sequence") {
        "an array"
    } else if expected.contains("struct") || expected.contains("map") {
        "an object"
    } else if expected.contains("float") || expected.contains("f64") {
        "a number"
    } else {
        "of another type"
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests;
