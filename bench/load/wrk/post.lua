-- wrk script: POST one fixed body read from a file, with extra headers.
-- Arguments after `--`: body file, then "name: value" header lines.
function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
  end
end
