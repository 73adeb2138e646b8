namespace Spegel.Registry;

/// <summary>What <c>/readyz</c> and <c>/healthz</c> answer: whether this node is ready to serve. The host decides.</summary>
internal interface IReadiness
{
    bool Ready { get; }
}
