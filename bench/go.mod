module github.com/gyre-go/gyre/bench

go 1.26.0

require github.com/gyre-go/gyre v0.0.0

require golang.org/x/sys v0.49.0 // indirect

replace github.com/gyre-go/gyre => ../
