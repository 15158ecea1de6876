#!/bin/bash
# Run recipe_search.py once per line of a queue file ("NAME ARGS..."), one after another, niced.
# Lines already done (name present in the log) are skipped, so the queue is resumable.
queue=$1; log=${2:-scripts/search-log.jsonl}
export DIGITREC_DATA_DIR=${DIGITREC_DATA_DIR:-/work/shared/data/mnist} TF_CPP_MIN_LOG_LEVEL=3
while read -r name rest; do
  [ -z "$name" ] || [[ $name == \#* ]] && continue
  grep -q "\"name\": \"$name\"" "$log" 2>/dev/null && continue
  nice -n 10 .venv/bin/python scripts/recipe_search.py --name "$name" --log "$log" $rest 2>&1 | grep -v -i warning | tail -1
done < "$queue"
