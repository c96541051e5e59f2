-- wrk script for bench/tracker_http.ts: BEP 3 announces over the info hashes listed (percent-encoded, one a line)
-- in the file named by $TRACKER_HASHES, with random peer ids and ports, compact=1, numwant=50.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "_wrk_announce.lua")
local hashes = common.lines("TRACKER_HASHES", "hashes.txt")
local counter = 0

function init(args)
  common.seed()
end

function request()
  counter = counter + 1
  local id = common.peer_id_tail()
  local left = common.left()
  local path = "/announce?info_hash=" .. hashes[math.random(#hashes)] ..
    "&peer_id=-WR0001-" .. id ..
    "&port=" .. math.random(1024, 65535) ..
    "&uploaded=0&downloaded=0&left=" .. left .. "&compact=1&numwant=50"
  return wrk.format("GET", path)
end
