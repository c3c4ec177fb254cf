-- Argo CD health check for airlock.dev/AgentPolicy.
-- Healthy once the operator has evaluated the current generation and reports Ready=True;
-- Degraded when it reports Ready=False (the policy does not compile); Progressing until then.
local hs = { status = "Progressing", message = "Waiting for the Airlock operator to evaluate the policy" }
local generation = obj.metadata and obj.metadata.generation or nil
local status = obj.status
if status == nil then
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the Airlock operator to observe generation " .. tostring(generation)
  return hs
end
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" then
      if generation ~= nil and c.observedGeneration ~= nil and c.observedGeneration < generation then
        hs.message = "Ready condition is from generation " .. tostring(c.observedGeneration)
        return hs
      end
      if c.status == "True" then
        hs.status = "Healthy"
        hs.message = c.message or "Ready"
      elseif c.status == "False" then
        hs.status = "Degraded"
        hs.message = (c.reason or "NotReady") .. ": " .. (c.message or "")
      else
        hs.message = c.message or "Ready condition is Unknown"
      end
      return hs
    end
  end
end
return hs
