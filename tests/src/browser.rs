//! The panel and the API reference in a real browser: Debian's headless Chromium, driven over
//! WebDriver (the ChromeDriver `./scripts/test` starts, `WEBDRIVER_URL`) with fantoccini. A
//! person finds things by what they read, so the helpers find controls by their label or their
//! text, never by the page's structure.

use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::{base_url, eventually};

/// How long a person would wait for something to appear.
const PATIENCE: Duration = Duration::from_secs(30);

/// One headless Chromium window of 1440 × 1000 on the local runtime.
pub struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    pub async fn open(path: &str) -> Self {
        let webdriver = std::env::var("WEBDRIVER_URL")
            .expect("WEBDRIVER_URL is not set: run the browser tests through ./scripts/test");
        let mut capabilities = serde_json::Map::new();
        // The flags Chromium needs as root on a closed network: no sandbox, no GPU and none of
        // its own background calls home (each would be refused, slowly).
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--lang=en-US"
            ]}),
        );
        let client = ClientBuilder::rustls()
            .expect("a TLS set-up for the WebDriver client")
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("ChromeDriver opens a headless Chromium");
        let browser = Self {
            client,
            base: base_url(),
        };
        browser.goto(path).await;
        browser
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page loads");
    }

    /// The first element `css` selects once there is one.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing on the page matches {css}: {e}"))
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
    }

    /// Whether anything matches `css` now.
    pub async fn has(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The first element `xpath` selects once there is one.
    pub async fn find_xpath(&self, xpath: &str, what: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("no {what} on the page: {e}"))
    }

    /// The button a person knows by its text or, for an icon, by its accessible name.
    pub async fn button(&self, name: &str) -> Element {
        self.find_xpath(&button_xpath(name), &format!("button {name:?}"))
            .await
    }

    pub async fn has_button(&self, name: &str) -> bool {
        !self
            .client
            .find_all(Locator::XPath(&button_xpath(name)))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn click(&self, button: &str) {
        self.button(button).await.click().await.expect("click");
    }

    pub async fn link(&self, text: &str) -> Element {
        let text = xpath_literal(text);
        self.find_xpath(
            &format!("//a[normalize-space()={text}]"),
            &format!("link {text}"),
        )
        .await
    }

    /// The control a `<label>` with exactly this text names.
    pub async fn field(&self, label: &str) -> Element {
        let literal = xpath_literal(label);
        let label_element = self
            .find_xpath(
                &format!("//label[normalize-space()={literal}]"),
                &format!("label {literal}"),
            )
            .await;
        let id = label_element
            .attr("for")
            .await
            .expect("attr")
            .unwrap_or_else(|| panic!("label {label} names no control"));
        self.find(&format!("[id='{id}']")).await
    }

    /// Replaces what the field labelled `label` holds with `text`.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Picks the option a person reads as `option` in the dropdown labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        self.field(label)
            .await
            .select_by_label(option)
            .await
            .expect("the option is there");
    }

    /// Waits until an element `css` selects holds `text`: that element's whole text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        eventually(&format!("{css} showing {text:?}"), || async {
            for element in self.find_all(css).await {
                if let Ok(shown) = element.text().await
                    && shown.contains(text)
                {
                    return Some(shown);
                }
            }
            None
        })
        .await
    }

    /// Waits until no element `css` selects holds `text`.
    pub async fn wait_without_text(&self, css: &str, text: &str) {
        eventually(&format!("{css} no longer showing {text:?}"), || async {
            for element in self.find_all(css).await {
                if element.text().await.is_ok_and(|shown| shown.contains(text)) {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }

    /// Drags `from` onto `to` with the mouse, as HTML drag and drop tells a page: ChromeDriver
    /// cannot hold a native drag, so the page gets the events a drag makes, in their order.
    pub async fn drag(&self, from: &Element, to: &Element) {
        self.client
            .execute(
                r#"const [from, to] = arguments;
                const data = new DataTransfer();
                const fire = (target, type) => target.dispatchEvent(
                  new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
                fire(from, 'dragstart');
                fire(to, 'dragenter');
                fire(to, 'dragover');
                fire(to, 'drop');
                fire(from, 'dragend');"#,
                vec![
                    serde_json::to_value(from).expect("an element reference"),
                    serde_json::to_value(to).expect("an element reference"),
                ],
            )
            .await
            .expect("the drag");
    }

    /// Presses a key with Alt held on `element` (the keyboard way to move a row).
    pub async fn alt_key(&self, element: &Element, key: Key) {
        let keys: String = [char::from(Key::Alt), char::from(key), char::from(Key::Null)]
            .into_iter()
            .collect();
        element.send_keys(&keys).await.expect("keys");
    }

    /// The serious and critical accessibility violations axe-core (pinned in
    /// `panel/package-lock.json`) finds on the page as it is now; the test names the screen.
    pub async fn assert_accessible(&self, screen: &str) {
        let axe = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../panel/node_modules/axe-core/axe.min.js"
        ))
        .expect("axe-core is installed by scripts/lib.sh (ensure_panel)");
        self.client.execute(&axe, vec![]).await.expect("axe loads");
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, {resultTypes: ['violations']}).then(
                  (r) => done(r.violations
                    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                    .map((v) => ({rule: v.id, impact: v.impact, help: v.help,
                                  where: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + n.failureSummary)}))),
                  (e) => done([{rule: 'axe failed', help: String(e)}]));"#,
                vec![],
            )
            .await
            .expect("axe runs");
        let violations = found.as_array().cloned().unwrap_or_default();
        assert!(
            violations.is_empty(),
            "{screen}: {} serious or critical accessibility violations: {}",
            violations.len(),
            serde_json::to_string_pretty(&Value::Array(violations)).unwrap_or_default()
        );
    }

    /// Saves what the window shows as `$SCREENSHOT_DIR/<name>.png` (`.local/screenshots`).
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::env::var("SCREENSHOT_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/screenshots").to_owned()
        });
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("screenshot saved");
    }

    pub async fn close(self) {
        self.client.close().await.expect("the browser closes");
    }
}

fn button_xpath(name: &str) -> String {
    let name = xpath_literal(name);
    format!("//button[normalize-space()={name} or @aria-label={name}]")
}

/// `text` as an XPath string literal, whatever quotes it holds.
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
