-- wrk script of tests/e2e/load.sh: POST /v1/exec and /v1/exec/batch with
-- code that prints a token unique to the request, and a check of every
-- answer: a 200 must carry exactly the tokens of a request this thread
-- sent and has not yet seen answered; a 503 or 429 must be forkbox's JSON
-- error with Retry-After. Anything else is counted as wrong.
-- Environment: FORKBOX_LOAD_KEY (API key), FORKBOX_LOAD_DIALECT ("fake" or
-- "python"), FORKBOX_LOAD_SLEEP_MS (fake: time each execution sleeps),
-- FORKBOX_LOAD_BATCH_EVERY (every Nth request of a client is a batch).
-- done() prints one line: "load-result k=v ...".

local threads = {}
local next_id = 1

function setup(thread)
	thread:set("id", next_id)
	next_id = next_id + 1
	table.insert(threads, thread)
end

local key = os.getenv("FORKBOX_LOAD_KEY") or ""
local dialect = os.getenv("FORKBOX_LOAD_DIALECT") or "fake"
local sleep_ms = tonumber(os.getenv("FORKBOX_LOAD_SLEEP_MS") or "5")
local batch_every = tonumber(os.getenv("FORKBOX_LOAD_BATCH_EVERY") or "8")
local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}

local n = 0
local pending = {}  -- token -> "exec" | "batch", for requests not yet answered
counts = {exec_ok = 0, batch_ok = 0, s503 = 0, s429 = 0, wrong = 0, other = 0}
first_wrong = ""

local function program(token)
	if dialect == "python" then
		return "print('" .. token .. "')"
	end
	return "sleep:" .. sleep_ms .. "\\nprint:" .. token
end

local function exec_json(token)
	return '{"code": "' .. program(token) .. '"}'
end

function request()
	n = n + 1
	local token = "t" .. id .. "-" .. n
	-- Every few requests a batch of three (its extra VM slots are taken
	-- only when free: batches are what meets a full pool).
	if n % batch_every == 0 then
		pending[token] = "batch"
		local items = {}
		for i = 0, 2 do
			items[#items + 1] = exec_json(token .. "-" .. i)
		end
		return wrk.format("POST", "/v1/exec/batch", headers,
			'{"executions": [' .. table.concat(items, ", ") .. "]}")
	end
	pending[token] = "exec"
	return wrk.format("POST", "/v1/exec", headers, exec_json(token))
end

local function wrong(status, body)
	counts.wrong = counts.wrong + 1
	if first_wrong == "" then
		first_wrong = status .. " " .. string.sub(body or "", 1, 300)
	end
end

local function check_exec(body)
	local token = string.match(body, '^{.*"stdout":"(t%d+%-%d+)\\n".*"exit_code":0')
	if token and pending[token] == "exec" and string.find(body, '"stderr":""', 1, true) then
		pending[token] = nil
		return true
	end
	return false
end

local function check_batch(body)
	local seen = {}
	for t in string.gmatch(body, '"stdout":"(t%d+%-%d+%-%d)\\n"') do
		seen[#seen + 1] = t
	end
	if #seen ~= 3 then
		return false
	end
	local token = string.match(seen[1], "^(t%d+%-%d+)%-0$")
	if not token or pending[token] ~= "batch" or seen[2] ~= token .. "-1" or
	   seen[3] ~= token .. "-2" then
		return false
	end
	pending[token] = nil
	return true
end

function response(status, hdrs, body)
	local retry = hdrs["Retry-After"] or hdrs["retry-after"]
	if status == 200 then
		if check_exec(body) then
			counts.exec_ok = counts.exec_ok + 1
		elseif check_batch(body) then
			counts.batch_ok = counts.batch_ok + 1
		else
			wrong(status, body)
		end
	elseif (status == 503 or status == 429) and retry == "1" and
	       string.find(body, '"error"', 1, true) then
		local k = "s" .. status
		counts[k] = counts[k] + 1
	else
		wrong(status, body)
	end
end

function done(summary, latency, requests)
	local total = {exec_ok = 0, batch_ok = 0, s503 = 0, s429 = 0, wrong = 0, other = 0}
	local first = ""
	for _, t in ipairs(threads) do
		local c = t:get("counts")
		for k, v in pairs(c) do
			total[k] = total[k] + v
		end
		local f = t:get("first_wrong")
		if first == "" and f ~= "" then
			first = f
		end
	end
	local e = summary.errors
	io.write(string.format(
		"load-result requests=%d seconds=%.1f exec_ok=%d batch_ok=%d s503=%d s429=%d " ..
		"wrong=%d socket_errors=%d timeouts=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
		summary.requests, summary.duration / 1e6, total.exec_ok, total.batch_ok, total.s503,
		total.s429, total.wrong, e.connect + e.read + e.write, e.timeout,
		latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
	if first ~= "" then
		io.write("load-first-wrong " .. first .. "\n")
	end
end
