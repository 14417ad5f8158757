module github.com/mongogate/mongogate

go 1.26.0
