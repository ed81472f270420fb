package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// readStateFile reads a file out of a container (any state) with its owner.
func readStateFile(t *testing.T, r *Runtime, id, p string) (data string, uid int) {
	t.Helper()
	res, err := r.api.CopyFromContainer(ctxT(t), id, client.CopyFromContainerOptions{SourcePath: p})
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(tr)
	return string(b), hdr.Uid
}

// State files in the spec are there before the first start, owned by the
// gateway's user, and a container that has run is not written again.
func TestStateFiles(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)

	spec := testSpec("a", image)
	spec.StateFiles = map[string][]byte{"boot.json": []byte(`{"ok":true}`)}
	created, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if created.State != runtime.StateCreated {
		t.Fatalf("created = state %s", created.State)
	}
	if data, uid := readStateFile(t, r, created.ContainerID, "/state/boot.json"); data != `{"ok":true}` || uid != gatewayUID {
		t.Fatalf("state file before start = %q (uid %d)", data, uid)
	}
	if err := r.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	running := mustState(t, r, "a", runtime.StateRunning)
	httpGet(t, "http://"+running.Address+"/")

	// A container that has run is not written again.
	spec.StateFiles = map[string][]byte{"boot.json": []byte("second")}
	if _, err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if data, _ := readStateFile(t, r, created.ContainerID, "/state/boot.json"); data != `{"ok":true}` {
		t.Fatalf("state file rewritten on a running container: %q", data)
	}

	// A spare boots with its files.
	sp := spareSpec(image)
	sp.StateFiles = map[string][]byte{"boot.json": []byte("spare")}
	spare, err := r.CreateSpare(ctx, "s1", sp)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := readStateFile(t, r, spare.ContainerID, "/state/boot.json"); data != "spare" {
		t.Fatalf("spare state file = %q", data)
	}

	bad := testSpec("b", image)
	bad.StateFiles = map[string][]byte{"../etc/x": nil}
	if _, err := r.Create(ctx, bad); err == nil {
		t.Fatal("a state file outside the state dir was accepted")
	}
}

// The archive replaces a file with a new inode (see stateArchive).
func TestStateArchive(t *testing.T) {
	b, err := stateArchive("openclaw.json", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	var got []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != gatewayUID || hdr.Mode != stateFileMode {
			t.Errorf("%s: uid %d mode %o", hdr.Name, hdr.Uid, hdr.Mode)
		}
		got = append(got, string(hdr.Typeflag)+" "+hdr.Name+" "+hdr.Linkname)
	}
	want := []string{string(tar.TypeReg) + " .clawd-openclaw.json ", string(tar.TypeLink) + " openclaw.json .clawd-openclaw.json"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("archive entries %q, want %q", got, want)
	}
}
