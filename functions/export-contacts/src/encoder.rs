//! The export file: CSV (RFC 4180, formulas neutralised) or JSON Lines, one contact a row, with
//! the org's attribute definitions as columns; parts are taken off as they fill up.

use serde::Serialize;
use shared::DomainError;
use shared::attributes::{AttributeSet, VIP_KEY};
use shared::contacts::Contact;
use shared::crm::CrmConnection;
use shared::exports::{CONTACT_COLUMNS, ExportFormat};

/// The attribute columns of an export: every platform and custom definition, enabled or not,
/// in display order; `vip` has its own contact column.
#[derive(Debug, Clone)]
pub struct Columns {
    definitions: AttributeSet,
    keys: Vec<String>,
    /// The org's CRM connection, which `validated` is read under.
    crm: Option<CrmConnection>,
}

impl Columns {
    pub fn new(definitions: AttributeSet, crm: Option<CrmConnection>) -> Self {
        let keys = definitions
            .display_keys()
            .into_iter()
            .filter(|k| k != VIP_KEY)
            .collect();
        Self {
            definitions,
            keys,
            crm,
        }
    }

    pub fn header(&self) -> impl Iterator<Item = &str> {
        CONTACT_COLUMNS
            .iter()
            .copied()
            .chain(self.keys.iter().map(String::as_str))
    }

    fn values<'a>(
        &'a self,
        contact: &'a Contact,
    ) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.keys
            .iter()
            .map(|k| (k.as_str(), contact.value_of(k, &self.definitions)))
    }
}

/// A cell a spreadsheet would run as a formula gets a leading `'`, so opening an export never
/// executes what a contact typed. Tab and carriage return lead formulas too (OWASP).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Turns contacts into file bytes, a part at a time: the caller takes the bytes whenever
/// enough have gathered, so memory holds one part however large the export.
pub struct Encoder {
    columns: Columns,
    output: Output,
}

enum Output {
    Csv(Box<csv::Writer<Vec<u8>>>),
    Jsonl(Vec<u8>),
}

#[derive(Serialize)]
struct JsonRow<'a> {
    contact_id: &'a str,
    name: &'a str,
    handle: Option<&'a str>,
    network: &'a str,
    vip: bool,
    validated: bool,
    created_at: &'a str,
    updated_at: &'a str,
    attributes: AttributeValues<'a>,
}

/// A contact's values as a JSON object in display order, the order of the CSV columns.
struct AttributeValues<'a> {
    columns: &'a Columns,
    contact: &'a Contact,
}

impl Serialize for AttributeValues<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.columns.keys.len()))?;
        for (key, value) in self.columns.values(self.contact) {
            map.serialize_entry(key, &value)?;
        }
        map.end()
    }
}

impl Encoder {
    pub fn new(format: ExportFormat, columns: Columns) -> Result<Self, DomainError> {
        let output = match format {
            ExportFormat::Csv => {
                let mut writer = csv_writer();
                writer
                    .write_record(columns.header())
                    .map_err(DomainError::failed)?;
                Output::Csv(Box::new(writer))
            }
            ExportFormat::Jsonl => Output::Jsonl(Vec::new()),
        };
        Ok(Self { columns, output })
    }

    /// Goes on with a file an earlier invocation began: `pending` is what it had encoded but
    /// not uploaded (the header included, for CSV).
    pub fn resume(format: ExportFormat, columns: Columns, pending: Vec<u8>) -> Self {
        let output = match format {
            ExportFormat::Csv => Output::Csv(Box::new(csv_writer_over(pending))),
            ExportFormat::Jsonl => Output::Jsonl(pending),
        };
        Self { columns, output }
    }

    pub fn write(&mut self, contact: &Contact) -> Result<(), DomainError> {
        match &mut self.output {
            Output::Csv(writer) => {
                let fixed = [
                    contact.id.as_str(),
                    contact.profile.name.as_str(),
                    contact.profile.handle.as_deref().unwrap_or_default(),
                    contact.profile.network.as_str(),
                    bool_cell(contact.vip),
                    bool_cell(contact.validated_under(self.columns.crm.as_ref())),
                    contact.created_at.as_str(),
                    contact.updated_at.as_str(),
                ];
                let cells = fixed.into_iter().chain(
                    self.columns
                        .values(contact)
                        .map(|(_, v)| v.unwrap_or_default()),
                );
                writer
                    .write_record(cells.map(|c| neutralise(c).into_owned()))
                    .map_err(DomainError::failed)
            }
            Output::Jsonl(buffer) => {
                let row = JsonRow {
                    contact_id: &contact.id,
                    name: &contact.profile.name,
                    handle: contact.profile.handle.as_deref(),
                    network: contact.profile.network.as_str(),
                    vip: contact.vip,
                    validated: contact.validated_under(self.columns.crm.as_ref()),
                    created_at: &contact.created_at,
                    updated_at: &contact.updated_at,
                    attributes: AttributeValues {
                        columns: &self.columns,
                        contact,
                    },
                };
                serde_json::to_writer(&mut *buffer, &row).map_err(DomainError::failed)?;
                buffer.push(b'\n');
                Ok(())
            }
        }
    }

    /// The bytes gathered so far, if there are at least `min` of them.
    pub fn take_at_least(&mut self, min: usize) -> Result<Option<Vec<u8>>, DomainError> {
        match &mut self.output {
            Output::Csv(writer) => {
                writer.flush().map_err(DomainError::failed)?;
                if writer.get_ref().len() < min {
                    return Ok(None);
                }
                let full = std::mem::replace(&mut **writer, csv_writer());
                full.into_inner()
                    .map(Some)
                    .map_err(|e| DomainError::failed(e.into_error()))
            }
            Output::Jsonl(buffer) => Ok((buffer.len() >= min).then(|| std::mem::take(buffer))),
        }
    }

    /// Whatever is left, to close the file with.
    pub fn finish(mut self) -> Result<Vec<u8>, DomainError> {
        Ok(self.take_at_least(0)?.unwrap_or_default())
    }
}

/// RFC 4180: fields quoted when they need it, records ended by CRLF.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv_writer_over(Vec::new())
}

/// A CSV writer that appends to bytes already written.
fn csv_writer_over(bytes: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(bytes)
}

fn bool_cell(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::attributes::{CustomAttribute, CustomType, Label};
    use shared::channel::Network;

    fn contact(name: &str, handle: Option<&str>) -> Contact {
        let mut contact = Contact {
            vip: true,
            platform: [("phone".to_owned(), "+351 912".to_owned())].into(),
            values: [("def-1".to_owned(), "=HYPERLINK(\"x\")".to_owned())].into(),
            version: 1,
            updated_at: "2026-01-02T10:00:00Z".into(),
            ..Contact::new(
                "0190-c1".to_owned(),
                Network::Whatsapp,
                "2026-01-01T10:00:00Z",
            )
        };
        contact.profile.name = name.into();
        contact.profile.handle = handle.map(Into::into);
        contact
    }

    fn definitions() -> AttributeSet {
        let mut set = AttributeSet::default();
        set.custom.insert(
            "tier".into(),
            CustomAttribute {
                id: "def-1".into(),
                label: Label::parse("Tier").unwrap(),
                ty: CustomType::Text,
                enabled: false,
                crm_managed: false,
                lookup: false,
            },
        );
        set
    }

    fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
        csv::Reader::from_reader(bytes)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn a_file_resumed_from_its_pending_bytes_is_the_file_written_in_one_go() {
        let contacts: Vec<Contact> = (0..6)
            .map(|n| contact(&format!("N{n}"), Some("@h")))
            .collect();
        for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
            let columns = || Columns::new(definitions(), None);
            let mut whole = Encoder::new(format, columns()).unwrap();
            contacts.iter().for_each(|c| whole.write(c).unwrap());
            let whole = whole.finish().unwrap();

            let mut first = Encoder::new(format, columns()).unwrap();
            contacts[..2].iter().for_each(|c| first.write(c).unwrap());
            let part = first.take_at_least(1).unwrap().unwrap();
            first.write(&contacts[2]).unwrap();
            let pending = first.finish().unwrap();
            let mut second = Encoder::resume(format, columns(), pending);
            contacts[3..].iter().for_each(|c| second.write(c).unwrap());
            let rest = second.finish().unwrap();
            assert_eq!([part, rest].concat(), whole, "{format:?}");
        }
    }

    #[test]
    fn formula_cells_are_neutralised_and_others_left_alone() {
        for (raw, expected) in [
            ("=1+1", "'=1+1"),
            ("+351", "'+351"),
            ("-2", "'-2"),
            ("@ana", "'@ana"),
            ("\tx", "'\tx"),
            ("Ana", "Ana"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn csv_has_the_contract_header_and_every_non_vip_definition_in_display_order() {
        let columns = Columns::new(definitions(), None);
        let header: Vec<&str> = columns.header().collect();
        assert_eq!(&header[..8], &CONTACT_COLUMNS);
        assert_eq!(
            header.iter().filter(|h| **h == "vip").count(),
            1,
            "vip is only the contact column"
        );
        assert_eq!(
            header.last(),
            Some(&"tier"),
            "a disabled custom definition still exports"
        );
        assert!(header.contains(&"followers") && header.contains(&"email_address"));
        let expected: Vec<String> = definitions()
            .display_keys()
            .into_iter()
            .filter(|k| k != VIP_KEY)
            .collect();
        assert_eq!(
            &header[8..],
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }

    #[test]
    fn csv_rows_quote_per_rfc_4180_and_neutralise_formulas() {
        let mut encoder =
            Encoder::new(ExportFormat::Csv, Columns::new(definitions(), None)).unwrap();
        encoder
            .write(&contact("Lima, \"Ana\"\nSecond line", Some("@ana")))
            .unwrap();
        let bytes = encoder.finish().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"Lima, \"\"Ana\"\"\nSecond line\""),
            "{text}"
        );
        assert!(text.ends_with("\r\n"));
        let rows = csv_rows(&bytes);
        assert_eq!(rows.len(), 1);
        let header = Columns::new(definitions(), None)
            .header()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let cell = |name: &str| rows[0][header.iter().position(|h| h == name).unwrap()].clone();
        assert_eq!(cell("name"), "Lima, \"Ana\"\nSecond line");
        assert_eq!(cell("handle"), "'@ana");
        assert_eq!(cell("vip"), "true");
        assert_eq!(cell("validated"), "false");
        assert_eq!(cell("network"), "whatsapp");
        assert_eq!(cell("phone"), "'+351 912");
        assert_eq!(cell("tier"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("followers"), "");
    }

    #[test]
    fn jsonl_rows_carry_raw_values_and_nulls_for_missing_ones() {
        let mut encoder =
            Encoder::new(ExportFormat::Jsonl, Columns::new(definitions(), None)).unwrap();
        encoder.write(&contact("Ana", None)).unwrap();
        encoder.write(&contact("Bea", Some("@bea"))).unwrap();
        let bytes = encoder.finish().unwrap();
        let lines: Vec<serde_json::Value> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["handle"], serde_json::Value::Null);
        assert_eq!(lines[1]["handle"], "@bea");
        assert_eq!(lines[0]["vip"], true);
        assert_eq!(lines[0]["attributes"]["tier"], "=HYPERLINK(\"x\")");
        assert_eq!(lines[0]["attributes"]["followers"], serde_json::Value::Null);
        assert!(lines[0]["attributes"].get("vip").is_none());
        let text = String::from_utf8(bytes.clone()).unwrap();
        let first_line = text.lines().next().unwrap();
        let positions: Vec<usize> = Columns::new(definitions(), None)
            .header()
            .skip(CONTACT_COLUMNS.len())
            .map(|k| first_line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(positions.is_sorted(), "attributes in display order");
    }

    #[test]
    fn parts_are_taken_only_once_enough_bytes_gathered() {
        let mut encoder =
            Encoder::new(ExportFormat::Jsonl, Columns::new(definitions(), None)).unwrap();
        encoder.write(&contact("Ana", None)).unwrap();
        assert!(encoder.take_at_least(1 << 20).unwrap().is_none());
        let part = encoder.take_at_least(10).unwrap().unwrap();
        assert!(part.ends_with(b"\n"));
        assert!(encoder.finish().unwrap().is_empty());
    }
}
