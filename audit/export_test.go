package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/clawd-dev/clawd/store"
)

func sampleReport() Report {
	recs := []Record{rec("a", TypeConfigChange, "PUT /api/v1/config/{key}", 1), rec("a", TypeAuth, "key_refused", 2)}
	prev := store.AuditHead{Hash: GenesisHash}
	for i := range recs {
		recs[i].chain(prev.Seq, prev.Hash)
		prev = store.AuditHead{Seq: recs[i].Seq, Hash: recs[i].Hash}
	}
	return Report{Namespace: "a", DisplayName: "客户A", Start: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		End: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), Head: prev, Records: recs}
}

func TestExportJSONAndCSV(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := Export(&b, FormatJSON, rep, ""); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Records) != 2 || back.Records[1].Hash != rep.Head.Hash || back.DisplayName != "客户A" {
		t.Fatalf("json: %+v, %v", back, err)
	}
	// An exported record still hashes to its hash: a reader can check it.
	if back.Records[0].ComputeHash() != back.Records[0].Hash {
		t.Fatal("exported record does not verify")
	}
	b.Reset()
	if err := Export(&b, FormatCSV, rep, ""); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 3 || rows[2][2] != TypeAuth || rows[2][11] != rep.Head.Hash {
		t.Fatalf("csv: %q, %v", rows, err)
	}
	if err := Export(&b, "xml", rep, ""); err == nil {
		t.Fatal("xml accepted")
	}
}

func TestExportPDF(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultFontDir, fontFile)); err != nil {
		testenv.Missing(t, "fonts-arphic-gbsn00lp is not installed (scripts/ensure-tools.sh installs it)")
	}
	rep := sampleReport()
	var b bytes.Buffer
	if err := exportPDF(&b, rep, "", false); err != nil {
		t.Fatal(err)
	}
	pdf := b.Bytes()
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdf[:16])
	}
	// The UTF-8 font is embedded and text is written as UTF-16BE code
	// points (Identity-H with an identity ToUnicode map): 客户A is there as
	// 5BA2 6237 0041, and the subset font carries its glyphs.
	for _, want := range [][]byte{[]byte("/FontFile2"), []byte("/ToUnicode"), {0x5b, 0xa2, 0x62, 0x37, 0x00, 0x41},
		utf16("Audit report"), utf16(rep.Head.Hash), utf16("2026-04-01 00:00")} {
		if !bytes.Contains(pdf, want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	if err := Export(&b, FormatPDF, rep, t.TempDir()); !errors.Is(err, ErrNoFont) {
		t.Fatalf("missing font: %v", err)
	}
}

func utf16(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}
