module github.com/graft-ml/graft/api

go 1.26.8
