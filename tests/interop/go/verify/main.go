// Command verify checks fabcommons log artefacts with Go's reference
// implementations: golang.org/x/mod/sumdb/note for the signed checkpoint and
// golang.org/x/mod/sumdb/tlog for the Merkle proofs.
//
// It reads one JSON command on stdin:
//
//	{
//	  "vkey": "<origin>+<8 hex>+<base64(0x01 || pubkey)>",  // with "note"
//	  "note": "<signed checkpoint text>",                    // optional
//	  "witnesses": ["<name>+<8 hex>+<base64(0x04 || pubkey)>"], // optional
//	  "leaves": ["<base64 leaf bytes>", ...],                // optional
//	  "inclusion": [{"index", "tree_size", "hashes", "leaf", "root"?}],
//	  "consistency": [{"from", "to", "hashes", "old_root"?, "new_root"?}]
//	}
//
// Hashes and roots are standard base64 of 32 bytes; proofs are RFC 9162
// paths, leaf side first, which is also the order of tlog's RecordProof and
// TreeProof. Every root a proof is checked against must be known from some
// source: the item itself, the checkpoint (for its own size) or the leaves
// (Go hashes them itself with tlog.StoredHashes and tlog.TreeHash); when two
// sources give a root for one size they must agree.
//
// On success it prints a JSON summary on stdout and exits 0; on any failure it
// prints one line on stderr and exits 1.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusionItem struct {
	Index    int64       `json:"index"`
	TreeSize int64       `json:"tree_size"`
	Hashes   []tlog.Hash `json:"hashes"`
	Leaf     *string     `json:"leaf"`
	Root     *tlog.Hash  `json:"root"`
}

type consistencyItem struct {
	From    int64       `json:"from"`
	To      int64       `json:"to"`
	Hashes  []tlog.Hash `json:"hashes"`
	OldRoot *tlog.Hash  `json:"old_root"`
	NewRoot *tlog.Hash  `json:"new_root"`
}

type command struct {
	Vkey        string            `json:"vkey"`
	Note        *string           `json:"note"`
	Witnesses   []string          `json:"witnesses"`
	Leaves      *[]string         `json:"leaves"`
	Inclusion   []inclusionItem   `json:"inclusion"`
	Consistency []consistencyItem `json:"consistency"`
}

type checkpointOut struct {
	Origin     string    `json:"origin"`
	Size       int64     `json:"size"`
	Root       tlog.Hash `json:"root"`
	Extensions []string  `json:"extensions"`
}

type result struct {
	Checkpoint         *checkpointOut   `json:"checkpoint"`
	Signers            []string         `json:"signers"`
	UnverifiedSigners  []string         `json:"unverified_signers"`
	Witnesses          map[string]int64 `json:"witnesses"`
	LeavesRoot         *tlog.Hash       `json:"leaves_root"`
	InclusionChecked   int              `json:"inclusion_checked"`
	ConsistencyChecked int              `json:"consistency_checked"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "verify: "+format+"\n", args...)
	os.Exit(1)
}

// memoryStore keeps every stored hash of a tree in tlog's storage order.
type memoryStore struct{ hashes []tlog.Hash }

func (s *memoryStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = s.hashes[x]
	}
	return out, nil
}

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, decimal size
// without leading zeros, standard base64 root hash, then extension lines.
func parseCheckpoint(text string) (*checkpointOut, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("checkpoint text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint has %d lines, needs at least 3", len(lines))
	}
	if lines[0] == "" {
		return nil, fmt.Errorf("empty origin line")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, fmt.Errorf("malformed tree size %q", lines[1])
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize || base64.StdEncoding.EncodeToString(raw) != lines[2] {
		return nil, fmt.Errorf("malformed root hash %q", lines[2])
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return nil, fmt.Errorf("empty extension line")
		}
	}
	var root tlog.Hash
	copy(root[:], raw)
	return &checkpointOut{Origin: lines[0], Size: size, Root: root, Extensions: append([]string{}, lines[3:]...)}, nil
}

// witnessKey is a C2SP tlog-cosignature verifier: name and Ed25519 key with
// the key ID SHA-256(name || "\n" || 0x04 || key)[:4].
type witnessKey struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func parseWitness(vkey string) (*witnessKey, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 {
		return nil, fmt.Errorf("malformed witness vkey %q", vkey)
	}
	want, err := hex.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("malformed witness key hash %q", parts[1])
	}
	material, err := base64.StdEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(material) != 1+ed25519.PublicKeySize || material[0] != 0x04 {
		return nil, fmt.Errorf("witness vkey %q is not a cosignature/v1 (0x04) Ed25519 key", vkey)
	}
	h := sha256.New()
	h.Write([]byte(parts[0] + "\n"))
	h.Write(material)
	if !bytes.Equal(h.Sum(nil)[:4], want) {
		return nil, fmt.Errorf("witness vkey %q has a wrong key hash", vkey)
	}
	return &witnessKey{parts[0], binary.BigEndian.Uint32(want), ed25519.PublicKey(material[1:])}, nil
}

// checkCosignature finds the witness's line among the signatures note.Open
// could not verify and checks it as a cosignature/v1 over the note text.
func checkCosignature(n *note.Note, w *witnessKey) (int64, error) {
	for _, sig := range n.UnverifiedSigs {
		if sig.Name != w.name || sig.Hash != w.hash {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig.Base64)
		if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
			return 0, fmt.Errorf("cosignature by %s is malformed", w.name)
		}
		ts := binary.BigEndian.Uint64(raw[4:12])
		if ts >= 1<<63 {
			return 0, fmt.Errorf("cosignature by %s has an out-of-range timestamp", w.name)
		}
		msg := "cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n" + n.Text
		if !ed25519.Verify(w.key, []byte(msg), raw[12:]) {
			return 0, fmt.Errorf("cosignature by %s does not verify", w.name)
		}
		return int64(ts), nil
	}
	return 0, fmt.Errorf("no cosignature by witness %s", w.name)
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	var cmd command
	if err := dec.Decode(&cmd); err != nil {
		fail("reading command: %v", err)
	}
	res := result{Signers: []string{}, UnverifiedSigners: []string{}, Witnesses: map[string]int64{}}

	// roots[n] is the root of the tree of size n, from whichever source knew it first.
	roots := map[int64]tlog.Hash{}
	claim := func(size int64, h tlog.Hash, source string) {
		if old, ok := roots[size]; ok && old != h {
			fail("%s gives root %s for size %d, but %s was already known", source, h, size, old)
		}
		roots[size] = h
	}

	// The leaves, hashed and stored by tlog itself.
	var store memoryStore
	var leaves [][]byte
	if cmd.Leaves != nil {
		for i, text := range *cmd.Leaves {
			data, err := base64.StdEncoding.Strict().DecodeString(text)
			if err != nil {
				fail("leaf %d: %v", i, err)
			}
			hashes, err := tlog.StoredHashes(int64(i), data, &store)
			if err != nil {
				fail("storing leaf %d: %v", i, err)
			}
			store.hashes = append(store.hashes, hashes...)
			leaves = append(leaves, data)
		}
		n := int64(len(leaves))
		if n > 0 {
			h, err := tlog.TreeHash(n, &store)
			if err != nil {
				fail("tree hash: %v", err)
			}
			res.LeavesRoot = &h
		}
	}
	rootFromLeaves := func(size int64) {
		if size >= 1 && size <= int64(len(leaves)) {
			h, err := tlog.TreeHash(size, &store)
			if err != nil {
				fail("tree hash of size %d: %v", size, err)
			}
			claim(size, h, "the leaves")
		}
	}

	if cmd.Note != nil {
		v, err := note.NewVerifier(cmd.Vkey)
		if err != nil {
			fail("verifier key: %v", err)
		}
		n, err := note.Open([]byte(*cmd.Note), note.VerifierList(v))
		if err != nil {
			fail("note.Open: %v", err)
		}
		for _, s := range n.Sigs {
			res.Signers = append(res.Signers, s.Name)
		}
		for _, s := range n.UnverifiedSigs {
			res.UnverifiedSigners = append(res.UnverifiedSigners, s.Name)
		}
		cp, err := parseCheckpoint(n.Text)
		if err != nil {
			fail("checkpoint: %v", err)
		}
		// C2SP tlog-checkpoint: the log's key name is its origin.
		if cp.Origin != v.Name() {
			fail("checkpoint origin %q is not the key name %q", cp.Origin, v.Name())
		}
		res.Checkpoint = cp
		rootFromLeaves(cp.Size)
		claim(cp.Size, cp.Root, "the checkpoint")
		for _, vkey := range cmd.Witnesses {
			w, err := parseWitness(vkey)
			if err != nil {
				fail("%v", err)
			}
			ts, err := checkCosignature(n, w)
			if err != nil {
				fail("%v", err)
			}
			res.Witnesses[vkey] = ts
		}
	} else if cmd.Vkey != "" || len(cmd.Witnesses) > 0 {
		fail("vkey and witnesses need a note")
	}

	rootOf := func(size int64, given *tlog.Hash, what string) tlog.Hash {
		rootFromLeaves(size)
		if given != nil {
			claim(size, *given, what)
		}
		h, ok := roots[size]
		if !ok {
			fail("%s: no root known for tree size %d", what, size)
		}
		return h
	}

	for i, item := range cmd.Inclusion {
		what := fmt.Sprintf("inclusion[%d] (index %d, size %d)", i, item.Index, item.TreeSize)
		var leaf []byte
		if item.Leaf != nil {
			data, err := base64.StdEncoding.Strict().DecodeString(*item.Leaf)
			if err != nil {
				fail("%s: leaf: %v", what, err)
			}
			leaf = data
			if item.Index >= 0 && item.Index < int64(len(leaves)) && !bytes.Equal(leaf, leaves[item.Index]) {
				fail("%s: leaf differs from leaves[%d]", what, item.Index)
			}
		} else if item.Index >= 0 && item.Index < int64(len(leaves)) {
			leaf = leaves[item.Index]
		} else {
			fail("%s: no leaf given", what)
		}
		root := rootOf(item.TreeSize, item.Root, what)
		if err := tlog.CheckRecord(item.Hashes, item.TreeSize, root, item.Index, tlog.RecordHash(leaf)); err != nil {
			fail("%s: tlog.CheckRecord: %v", what, err)
		}
		res.InclusionChecked++
	}

	for i, item := range cmd.Consistency {
		what := fmt.Sprintf("consistency[%d] (%d -> %d)", i, item.From, item.To)
		oldRoot := rootOf(item.From, item.OldRoot, what+" old root")
		newRoot := rootOf(item.To, item.NewRoot, what+" new root")
		if err := tlog.CheckTree(item.Hashes, item.To, newRoot, item.From, oldRoot); err != nil {
			fail("%s: tlog.CheckTree: %v", what, err)
		}
		res.ConsistencyChecked++
	}

	out, err := json.Marshal(res)
	if err != nil {
		fail("writing result: %v", err)
	}
	os.Stdout.Write(append(out, '\n'))
}
