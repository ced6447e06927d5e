//! CSV that opens in Excel as Swedish teams have it: UTF-8 with a byte order mark (so å, ä, ö
//! survive) and `;` between fields (Excel's list separator in the Swedish locale).

use std::path::Path;

/// Writes `rows` under `header` to `path`.
pub fn write(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    }
    let mut buf: Vec<u8> = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(&mut buf);
        w.write_record(header).map_err(|e| err(&e))?;
        for row in rows {
            w.write_record(&row).map_err(|e| err(&e))?;
        }
        w.flush().map_err(|e| err(&e))?;
    }
    std::fs::write(path, buf).map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bom_semicolons_and_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        super::write(&path, &["namn", "not"], [vec!["Öberg, Åsa".into(), "a;b \"c\"".into()]]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        assert_eq!(String::from_utf8_lossy(&bytes[3..]), "namn;not\nÖberg, Åsa;\"a;b \"\"c\"\"\"\n");
    }
}
