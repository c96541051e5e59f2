-- wrk script for bench/tracker_http.ts: BEP 3 announces over the info hashes listed (percent-encoded, one a line)
-- in the file named by $TRACKER_HASHES, with random peer ids and ports, compact=1, numwant=50.
local hashes = {}
for line in io.lines(os.getenv("TRACKER_HASHES") or "hashes.txt") do
  if #line > 0 then hashes[#hashes + 1] = line end
end
local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
local counter = 0

function init(args)
  -- Each wrk thread has its own Lua state: seed each one differently.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  counter = counter + 1
  local id = {}
  for i = 1, 12 do
    local k = math.random(#chars)
    id[i] = chars:sub(k, k)
  end
  local left = (math.random(4) == 1) and "0" or "1048576"
  local path = "/announce?info_hash=" .. hashes[math.random(#hashes)] ..
    "&peer_id=-WR0001-" .. table.concat(id) ..
    "&port=" .. math.random(1024, 65535) ..
    "&uploaded=0&downloaded=0&left=" .. left .. "&compact=1&numwant=50"
  return wrk.format("GET", path)
end
