// Command prove computes Merkle roots and proofs with Go's
// golang.org/x/mod/sumdb/tlog over leaves it hashes and stores itself, so that
// fabcommons' verifiers can be checked against an independent prover.
//
// It reads one JSON command on stdin:
//
//	{
//	  "leaves": ["<base64 leaf bytes>", ...],
//	  "roots": [<tree size>, ...],
//	  "inclusion": [{"index", "tree_size"}],
//	  "consistency": [{"from", "to"}]
//	}
//
// and prints {"leaf_hashes", "roots": [{"size", "root"}], "inclusion": [{"index",
// "tree_size", "hashes"}], "consistency": [{"from", "to", "hashes"}]} with
// standard base64 hashes; proofs are tlog's RecordProof and TreeProof, which
// are RFC 9162 paths, leaf side first. On any failure it prints one line on
// stderr and exits 1.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

type inclusionWant struct {
	Index    int64 `json:"index"`
	TreeSize int64 `json:"tree_size"`
}

type consistencyWant struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

type command struct {
	Leaves      []string          `json:"leaves"`
	Roots       []int64           `json:"roots"`
	Inclusion   []inclusionWant   `json:"inclusion"`
	Consistency []consistencyWant `json:"consistency"`
}

type rootOut struct {
	Size int64     `json:"size"`
	Root tlog.Hash `json:"root"`
}

type inclusionOut struct {
	Index    int64            `json:"index"`
	TreeSize int64            `json:"tree_size"`
	Hashes   tlog.RecordProof `json:"hashes"`
}

type consistencyOut struct {
	From   int64          `json:"from"`
	To     int64          `json:"to"`
	Hashes tlog.TreeProof `json:"hashes"`
}

type result struct {
	LeafHashes  []tlog.Hash      `json:"leaf_hashes"`
	Roots       []rootOut        `json:"roots"`
	Inclusion   []inclusionOut   `json:"inclusion"`
	Consistency []consistencyOut `json:"consistency"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "prove: "+format+"\n", args...)
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

func main() {
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	var cmd command
	if err := dec.Decode(&cmd); err != nil {
		fail("reading command: %v", err)
	}
	res := result{
		LeafHashes:  []tlog.Hash{},
		Roots:       []rootOut{},
		Inclusion:   []inclusionOut{},
		Consistency: []consistencyOut{},
	}

	var store memoryStore
	for i, text := range cmd.Leaves {
		data, err := base64.StdEncoding.Strict().DecodeString(text)
		if err != nil {
			fail("leaf %d: %v", i, err)
		}
		hashes, err := tlog.StoredHashes(int64(i), data, &store)
		if err != nil {
			fail("storing leaf %d: %v", i, err)
		}
		store.hashes = append(store.hashes, hashes...)
		res.LeafHashes = append(res.LeafHashes, tlog.RecordHash(data))
	}
	n := int64(len(cmd.Leaves))

	for _, size := range cmd.Roots {
		if size < 1 || size > n {
			fail("root of size %d asked for, with %d leaves", size, n)
		}
		h, err := tlog.TreeHash(size, &store)
		if err != nil {
			fail("tree hash of size %d: %v", size, err)
		}
		res.Roots = append(res.Roots, rootOut{size, h})
	}
	for _, want := range cmd.Inclusion {
		if want.TreeSize > n {
			fail("inclusion proof in a tree of size %d asked for, with %d leaves", want.TreeSize, n)
		}
		p, err := tlog.ProveRecord(want.TreeSize, want.Index, &store)
		if err != nil {
			fail("ProveRecord(%d, %d): %v", want.TreeSize, want.Index, err)
		}
		res.Inclusion = append(res.Inclusion, inclusionOut{want.Index, want.TreeSize, p})
	}
	for _, want := range cmd.Consistency {
		if want.To > n {
			fail("consistency proof to size %d asked for, with %d leaves", want.To, n)
		}
		p, err := tlog.ProveTree(want.To, want.From, &store)
		if err != nil {
			fail("ProveTree(%d, %d): %v", want.To, want.From, err)
		}
		res.Consistency = append(res.Consistency, consistencyOut{want.From, want.To, p})
	}

	out, err := json.Marshal(res)
	if err != nil {
		fail("writing result: %v", err)
	}
	os.Stdout.Write(append(out, '\n'))
}
