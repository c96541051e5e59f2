-- wrk script for bench/tracker_private.ts: bench/tracker_http.lua's announces (random info hash from $TRACKER_HASHES,
-- random peer ids and ports, compact=1, numwant=50) with `passkey=` first, a random member's from $TRACKER_PASSKEYS.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "_wrk_announce.lua")
local hashes = common.lines("TRACKER_HASHES", "hashes.txt")
local passkeys = common.lines("TRACKER_PASSKEYS", "passkeys.txt")

function init(args)
  common.seed()
end

function request()
  local id = common.peer_id_tail()
  local left = common.left()
  local path = "/announce?passkey=" .. passkeys[math.random(#passkeys)] ..
    "&info_hash=" .. hashes[math.random(#hashes)] ..
    "&peer_id=-WR0001-" .. id ..
    "&port=" .. math.random(1024, 65535) ..
    "&uploaded=" .. math.random(0, 1000000) .. "&downloaded=0&left=" .. left .. "&compact=1&numwant=50"
  return wrk.format("GET", path)
end
