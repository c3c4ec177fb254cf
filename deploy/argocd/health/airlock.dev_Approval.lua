-- Argo CD health check for airlock.dev/Approval.
-- Pending -> Progressing (waiting for a human), Approved/Consumed -> Healthy, Denied/Expired -> Degraded.
local hs = {}
local phase = "Pending"
if obj.status ~= nil and obj.status.phase ~= nil then
  phase = obj.status.phase
end
local summary = ""
if obj.spec ~= nil and obj.spec.request ~= nil and obj.spec.request.summary ~= nil then
  summary = obj.spec.request.summary
end
if phase == "Pending" then
  local have = 0
  if obj.status ~= nil and obj.status.decisions ~= nil then
    for _, d in ipairs(obj.status.decisions) do
      if d.decision == "approve" then
        have = have + 1
      end
    end
  end
  local need = 1
  if obj.spec ~= nil and obj.spec.required ~= nil then
    need = obj.spec.required
  end
  hs.status = "Progressing"
  hs.message = "Waiting for approval (" .. tostring(have) .. "/" .. tostring(need) .. "): " .. summary
elseif phase == "Approved" or phase == "Consumed" then
  hs.status = "Healthy"
  hs.message = phase .. ": " .. summary
elseif phase == "Denied" or phase == "Expired" then
  hs.status = "Degraded"
  local why = ""
  if obj.status.message ~= nil then
    why = " (" .. obj.status.message .. ")"
  end
  hs.message = phase .. why .. ": " .. summary
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
end
return hs
