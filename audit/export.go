package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/clawd-dev/clawd/store"
)

// Export formats.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatPDF  = "pdf"
)

// DefaultFontDir holds gbsn00lp.ttf, Debian's fonts-arphic-gbsn00lp: a TTF
// (fpdf refuses .ttc collections) that has the CJK glyphs display names use.
const DefaultFontDir = "/usr/share/fonts/truetype/arphic-gbsn00lp"

const fontFile = "gbsn00lp.ttf"

// Report is one namespace's records over a period, as exported.
type Report struct {
	Namespace   string    `json:"namespace"`
	DisplayName string    `json:"displayName,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	// Head is the newest record of the namespace's chain when the report
	// was made (it may be after End): what a reader checks the report's
	// records against with audit verify.
	Head    store.AuditHead `json:"head"`
	Records []Record        `json:"records"`
}

// Export writes rep as json, csv or pdf; fontDir is for the PDF ("": DefaultFontDir).
func Export(w io.Writer, format string, rep Report, fontDir string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case FormatCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"seq", "time", "type", "actor", "action", "target", "outcome", "detail", "before", "after", "prev_hash", "hash"})
		for _, r := range rep.Records {
			_ = cw.Write([]string{strconv.FormatInt(r.Seq, 10), r.Time.Format(time.RFC3339Nano), r.Type, r.Actor, r.Action, r.Target,
				r.Outcome, r.Detail, r.Before, r.After, r.PrevHash, r.Hash})
		}
		cw.Flush()
		return cw.Error()
	case FormatPDF:
		return exportPDF(w, rep, fontDir, true)
	}
	return fmt.Errorf("unknown export format %q: want pdf, json or csv", format)
}

// ErrNoFont reports that the PDF's font is not installed.
var ErrNoFont = errors.New("the PDF font is missing")

func exportPDF(w io.Writer, rep Report, fontDir string, compress bool) error {
	if fontDir == "" {
		fontDir = DefaultFontDir
	}
	if _, err := os.Stat(filepath.Join(fontDir, fontFile)); err != nil {
		return fmt.Errorf("%w: %s not found (Debian: apt-get install fonts-arphic-gbsn00lp)", ErrNoFont, filepath.Join(fontDir, fontFile))
	}
	pdf := fpdf.New("L", "mm", "A4", fontDir)
	pdf.SetCompression(compress)
	pdf.AddUTF8Font("gbsn", "", fontFile)
	pdf.SetTitle("clawd audit report: "+rep.Namespace, true)
	pdf.SetCreator("clawd", true)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("gbsn", "", 8)
		pdf.CellFormat(0, 6, fmt.Sprintf("%s · page %d", rep.Namespace, pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("gbsn", "", 16)
	pdf.CellFormat(0, 10, "Audit report", "", 1, "L", false, 0, "")
	pdf.SetFont("gbsn", "", 10)
	name := rep.Namespace
	if name == "" {
		name = "(cluster-wide)"
	}
	if rep.DisplayName != "" {
		name = rep.DisplayName + " (" + name + ")"
	}
	line := func(k, v string) {
		pdf.CellFormat(35, 6, k, "", 0, "L", false, 0, "")
		pdf.CellFormat(0, 6, v, "", 1, "L", false, 0, "")
	}
	line("Namespace", name)
	line("Period", rep.Start.UTC().Format("2006-01-02 15:04")+" – "+rep.End.UTC().Format("2006-01-02 15:04")+" UTC (end excluded)")
	line("Events", strconv.Itoa(len(rep.Records)))
	line("Chain head", fmt.Sprintf("record %d, SHA-256 %s", rep.Head.Seq, rep.Head.Hash))
	pdf.Ln(4)

	cols := []struct {
		title string
		width float64
	}{{"Seq", 12}, {"Time (UTC)", 34}, {"Type", 24}, {"Actor", 34}, {"Action", 62}, {"Target", 50}, {"Outcome", 18}, {"Hash", 43}}
	header := func() {
		pdf.SetFont("gbsn", "", 8)
		pdf.SetFillColor(225, 225, 225)
		for _, c := range cols {
			pdf.CellFormat(c.width, 6, c.title, "1", 0, "L", true, 0, "")
		}
		pdf.Ln(-1)
	}
	header()
	fit := func(s string, width float64) string {
		for pdf.GetStringWidth(s) > width-2 && len(s) > 1 {
			r := []rune(s)
			s = string(r[:len(r)-2]) + "…"
		}
		return s
	}
	for _, r := range rep.Records {
		if pdf.GetY() > 185 {
			pdf.AddPage()
			header()
		}
		vals := []string{strconv.FormatInt(r.Seq, 10), r.Time.UTC().Format("2006-01-02 15:04:05"), r.Type, r.Actor, r.Action, r.Target, r.Outcome, short(r.Hash) + "…"}
		for i, c := range cols {
			pdf.CellFormat(c.width, 5, fit(vals[i], c.width), "1", 0, "L", false, 0, "")
		}
		pdf.Ln(-1)
	}
	if len(rep.Records) == 0 {
		pdf.CellFormat(0, 6, "No events in this period.", "", 1, "L", false, 0, "")
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return fmt.Errorf("writing the audit PDF: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
