// gendata writes the deterministic click-log datasets used by scripts/bench.
//
//	go run gendata.go -out DIR -files 16 -file-bytes 134217728 -jsonl-files 8 -seed 42
//
// It writes DIR/clicks/part-NNN.csv (header user,url,status,bytes,ts) and, for the first
// -jsonl-files files, DIR/clicks_jsonl/part-NNN.jsonl holding exactly the same rows as the
// CSV file of the same number. Each file has its own random stream (seeded from -seed and
// the file number, splitmix64), so the bytes written do not depend on the Go version,
// the machine, or how many files are generated in parallel.
//
// Distributions: user in u0..u99999 and url in /p/0../p/999999, both skewed (index =
// floor(N * r^2), so low ids are hot); status 200 (90%), 301 (4%), 404 (5%), 500 (1%);
// bytes uniform in 200..65735; ts epoch seconds rising through 30 days from 2026-01-01.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

const (
	nUsers   = 100_000
	nURLs    = 1_000_000
	tsStart  = 1767225600 // 2026-01-01T00:00:00Z
	tsWindow = 30 * 86400
)

type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// unit returns a float in [0,1) from 53 random bits.
func (r *rng) unit() float64 { return float64(r.next()>>11) / (1 << 53) }

func skewed(r *rng, n int) int64 {
	u := r.unit()
	return int64(float64(n) * u * u)
}

type row struct {
	user, url, status, bytes, ts int64
}

func genFile(dir string, idx int, files int, fileBytes int64, withJSONL bool, seed uint64) (int64, error) {
	r := &rng{s: seed*0x100000001B3 + uint64(idx)*0x9E3779B97F4A7C15 + 1}
	csvPath := filepath.Join(dir, "clicks", fmt.Sprintf("part-%03d.csv", idx))
	cf, err := os.Create(csvPath + ".tmp")
	if err != nil {
		return 0, err
	}
	cw := bufio.NewWriterSize(cf, 1<<20)
	var jf *os.File
	var jw *bufio.Writer
	if withJSONL {
		jf, err = os.Create(filepath.Join(dir, "clicks_jsonl", fmt.Sprintf("part-%03d.jsonl", idx)) + ".tmp")
		if err != nil {
			return 0, err
		}
		jw = bufio.NewWriterSize(jf, 1<<20)
	}
	header := "user,url,status,bytes,ts\n"
	cw.WriteString(header)
	written := int64(len(header))
	// Expected rows per file, used only to spread ts over the window.
	const approxRowBytes = 34
	rowsPerFile := fileBytes / approxRowBytes
	totalRows := rowsPerFile * int64(files)
	cbuf := make([]byte, 0, 128)
	jbuf := make([]byte, 0, 256)
	var rows int64
	for written < fileBytes {
		var rw row
		rw.user = skewed(r, nUsers)
		rw.url = skewed(r, nURLs)
		s := r.unit()
		switch {
		case s < 0.90:
			rw.status = 200
		case s < 0.94:
			rw.status = 301
		case s < 0.99:
			rw.status = 404
		default:
			rw.status = 500
		}
		rw.bytes = 200 + int64(r.next()%65536)
		g := int64(idx)*rowsPerFile + rows
		if g > totalRows {
			g = totalRows
		}
		rw.ts = tsStart + g*tsWindow/totalRows + int64(r.next()%60)

		cbuf = cbuf[:0]
		cbuf = append(cbuf, 'u')
		cbuf = strconv.AppendInt(cbuf, rw.user, 10)
		cbuf = append(cbuf, ",/p/"...)
		cbuf = strconv.AppendInt(cbuf, rw.url, 10)
		cbuf = append(cbuf, ',')
		cbuf = strconv.AppendInt(cbuf, rw.status, 10)
		cbuf = append(cbuf, ',')
		cbuf = strconv.AppendInt(cbuf, rw.bytes, 10)
		cbuf = append(cbuf, ',')
		cbuf = strconv.AppendInt(cbuf, rw.ts, 10)
		cbuf = append(cbuf, '\n')
		cw.Write(cbuf)
		written += int64(len(cbuf))

		if withJSONL {
			jbuf = jbuf[:0]
			jbuf = append(jbuf, `{"user":"u`...)
			jbuf = strconv.AppendInt(jbuf, rw.user, 10)
			jbuf = append(jbuf, `","url":"/p/`...)
			jbuf = strconv.AppendInt(jbuf, rw.url, 10)
			jbuf = append(jbuf, `","status":`...)
			jbuf = strconv.AppendInt(jbuf, rw.status, 10)
			jbuf = append(jbuf, `,"bytes":`...)
			jbuf = strconv.AppendInt(jbuf, rw.bytes, 10)
			jbuf = append(jbuf, `,"ts":`...)
			jbuf = strconv.AppendInt(jbuf, rw.ts, 10)
			jbuf = append(jbuf, "}\n"...)
			jw.Write(jbuf)
		}
		rows++
	}
	if err := cw.Flush(); err != nil {
		return 0, err
	}
	if err := cf.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(csvPath+".tmp", csvPath); err != nil {
		return 0, err
	}
	if withJSONL {
		if err := jw.Flush(); err != nil {
			return 0, err
		}
		if err := jf.Close(); err != nil {
			return 0, err
		}
		jp := filepath.Join(dir, "clicks_jsonl", fmt.Sprintf("part-%03d.jsonl", idx))
		if err := os.Rename(jp+".tmp", jp); err != nil {
			return 0, err
		}
	}
	return rows, nil
}

func main() {
	out := flag.String("out", "", "output directory")
	files := flag.Int("files", 16, "number of CSV files")
	fileBytes := flag.Int64("file-bytes", 128<<20, "approximate size of each CSV file")
	jsonlFiles := flag.Int("jsonl-files", 8, "number of files also written as JSONL")
	seed := flag.Uint64("seed", 42, "random seed")
	par := flag.Int("parallel", 2, "files generated at once")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gendata: -out is required")
		os.Exit(2)
	}
	for _, d := range []string{"clicks", "clicks_jsonl"} {
		p := filepath.Join(*out, d)
		os.RemoveAll(p)
		if err := os.MkdirAll(p, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gendata:", err)
			os.Exit(1)
		}
	}
	start := time.Now()
	sem := make(chan struct{}, max(1, *par))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var firstErr error
	for i := 0; i < *files; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := genFile(*out, i, *files, *fileBytes, i < *jsonlFiles, *seed)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "gendata:", firstErr)
		os.Exit(1)
	}
	fmt.Printf("{\"rows\":%d,\"files\":%d,\"jsonl_files\":%d,\"seconds\":%.3f}\n",
		total, *files, min(*files, *jsonlFiles), time.Since(start).Seconds())
}
