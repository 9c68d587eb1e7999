//! A real browser for the lab's tests: Debian's headless Chromium driven through chromedriver
//! (package chromium-driver) with the W3C WebDriver protocol, which is plain JSON over HTTP, so
//! reqwest is the whole client.
//!
//! Chromium starts with a fresh profile and without any background networking, so the only
//! traffic is to the page under test on 127.0.0.1. The session is deleted on drop (which makes
//! chromedriver close Chromium) even when a test panics.

use crate::harness::{free_port, require_tool, temp_dir, Proc};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// The key W3C WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One Chromium window at 1280x800, driven by chromedriver.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    // Dropped after the session is deleted: chromedriver, then the profile folder.
    driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Self {
        let chromium = require_tool("chromium", "chromium");
        let chromedriver = require_tool("chromedriver", "chromium-driver");
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1");
        let mut driver = Proc::spawn(cmd);
        let base = format!("http://127.0.0.1:{port}");
        crate::harness::wait_http_ok(
            &format!("{base}/status"),
            Duration::from_secs(30),
            &mut driver,
        );
        let profile = temp_dir("monlab-chromium");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,800".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("chromedriver answers JSON");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver could not start Chromium: {resp}\n{}",
                    driver.output()
                )
            })
            .to_string();
        let browser = Self {
            http,
            base,
            session,
            driver,
            _profile: profile,
        };
        browser.viewport(1280, 800).await;
        browser
    }

    /// Sizes the window so that the page itself gets `width` x `height` pixels.
    pub async fn viewport(&self, width: i64, height: i64) {
        let inner = self
            .eval("return [window.innerWidth, window.innerHeight]")
            .await;
        let (w, h) = (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap());
        let rect = self.call(reqwest::Method::GET, "/window/rect", None).await;
        let (ow, oh) = (
            rect["width"].as_i64().unwrap(),
            rect["height"].as_i64().unwrap(),
        );
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": ow + width - w, "height": oh + height - h })),
        )
        .await;
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        if let Some(err) = resp["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path} failed: {err}: {}",
                resp["value"]["message"]
            );
        }
        resp["value"].clone()
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `return` gives its value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    /// Clicks the element `css` selects, as a person would (it must be visible).
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Replaces the text of the input `css` selects by typing `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls `script` every 500 ms until it returns something truthy; panics after `timeout`
    /// with `what` and the last value.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(script).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Array(a) => !a.is_empty(),
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .eval("return document.querySelector('main').innerText")
                    .await;
                panic!(
                    "the page did not show {what} within {timeout:?}; last value {v}\npage text:\n{}",
                    page.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        decode_base64(b64.as_str().expect("a base64 screenshot"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Synchronous on purpose (drop may run while a panic unwinds): deleting the session
        // makes chromedriver close Chromium before chromedriver itself is killed.
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut s) = std::net::TcpStream::connect(&host) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        let _ = &self.driver;
    }
}

/// Standard base64 (with padding) to bytes.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("aGVsbG8h"), b"hello!");
    assert_eq!(decode_base64("aA=="), b"h");
}
