-- wrk script for bench/tracker_private.ts: bench/tracker_http.lua's announces (random info hash from $TRACKER_HASHES,
-- random peer ids and ports, compact=1, numwant=50) with `passkey=` first, a random member's from $TRACKER_PASSKEYS.
local hashes, passkeys = {}, {}
for line in io.lines(os.getenv("TRACKER_HASHES") or "hashes.txt") do
  if #line > 0 then hashes[#hashes + 1] = line end
end
for line in io.lines(os.getenv("TRACKER_PASSKEYS") or "passkeys.txt") do
  if #line > 0 then passkeys[#passkeys + 1] = line end
end
local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  local id = {}
  for i = 1, 12 do
    local k = math.random(#chars)
    id[i] = chars:sub(k, k)
  end
  local left = (math.random(4) == 1) and "0" or "1048576"
  local path = "/announce?passkey=" .. passkeys[math.random(#passkeys)] ..
    "&info_hash=" .. hashes[math.random(#hashes)] ..
    "&peer_id=-WR0001-" .. table.concat(id) ..
    "&port=" .. math.random(1024, 65535) ..
    "&uploaded=" .. math.random(0, 1000000) .. "&downloaded=0&left=" .. left .. "&compact=1&numwant=50"
  return wrk.format("GET", path)
end
