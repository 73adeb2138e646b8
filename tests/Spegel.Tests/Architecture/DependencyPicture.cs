namespace Spegel.Tests.Architecture;

/// <summary>One room using another: the type that does, what it uses, and where (a member, or a file's using line).</summary>
internal sealed record RoomDependency(string FromRoom, string ToRoom, string FromType, string To, string Where)
{
    public override string ToString() => $"{FromRoom} → {ToRoom}: {FromType} uses {To} ({Where})";
}

/// <summary>
/// A back-up arrow the code still has and a named step will remove: a type of one room that may use another room
/// for now. Entries can only go: an entry that matches nothing fails the test until it is deleted.
/// </summary>
internal sealed record KnownDebt(string FromType, string ToRoom, string Why);

/// <summary>
/// The rooms of an assembly (its namespaces, one level under the root), which rooms each may use, and the back-up
/// arrows still tolerated. Reads the compiled assembly and the sources' <c>using</c> lines.
/// </summary>
internal sealed class DependencyPicture(IReadOnlyDictionary<string, string[]> mayUse, Func<string, string, string?> roomOf, IReadOnlyList<KnownDebt> debt)
{
    public IReadOnlyDictionary<string, string[]> MayUse => mayUse;

    public IReadOnlyList<KnownDebt> Debt => debt;

    /// <summary>The room of a type (by namespace and full name), or null for what is not ours (the framework, packages, generated code).</summary>
    public string? RoomOf(string @namespace, string fullName) => roomOf(@namespace, fullName);

    /// <summary>Every dependency from one of our rooms to another room.</summary>
    public IReadOnlyList<RoomDependency> Dependencies(IReadOnlyList<TypeDependency> types, IReadOnlyList<SourceUsing> usings)
    {
        var result = new List<RoomDependency>();
        foreach (var type in types)
        {
            if (roomOf(type.FromNamespace, type.From) is { } from && roomOf(type.ToNamespace, type.To) is { } to && from != to)
            {
                result.Add(new RoomDependency(from, to, type.From, type.To, type.Where));
            }
        }

        foreach (var line in usings)
        {
            if (roomOf(line.FileNamespace, line.FileType) is { } from && roomOf(line.UsedNamespace, line.UsedNamespace + ".?") is { } to && from != to)
            {
                result.Add(new RoomDependency(from, to, line.FileType, line.UsedNamespace, $"{line.File}:{line.Line} using"));
            }
        }

        return result;
    }

    /// <summary>The dependencies the picture does not allow: back-up arrows.</summary>
    public IReadOnlyList<RoomDependency> BackUp(IEnumerable<RoomDependency> dependencies) =>
        dependencies.Where(d => !(mayUse.TryGetValue(d.FromRoom, out var allowed) && allowed.Contains(d.ToRoom))).ToList();

    public bool IsKnownDebt(RoomDependency dependency) => debt.Any(d => d.FromType == dependency.FromType && d.ToRoom == dependency.ToRoom);

    /// <summary>A room of the picture that can reach itself through what it may use, or null.</summary>
    public IReadOnlyList<string>? Circle()
    {
        var state = new Dictionary<string, bool>(); // false: on the current path; true: done
        var path = new List<string>();
        foreach (string room in mayUse.Keys)
        {
            if (Visit(room) is { } circle)
            {
                return circle;
            }
        }

        return null;

        IReadOnlyList<string>? Visit(string room)
        {
            if (state.TryGetValue(room, out bool done))
            {
                return done ? null : [.. path.SkipWhile(r => r != room), room];
            }

            state[room] = false;
            path.Add(room);
            foreach (string next in mayUse.GetValueOrDefault(room, []))
            {
                if (Visit(next) is { } circle)
                {
                    return circle;
                }
            }

            path.RemoveAt(path.Count - 1);
            state[room] = true;
            return null;
        }
    }

    /// <summary>Floors from the bottom (0: uses nothing of ours), as the longest chain of allowed uses below each room.</summary>
    public IReadOnlyDictionary<string, int> Floors()
    {
        var floors = new Dictionary<string, int>();
        foreach (string room in mayUse.Keys)
        {
            Floor(room);
        }

        return floors;

        int Floor(string room) => floors.TryGetValue(room, out int floor)
            ? floor
            : floors[room] = mayUse.GetValueOrDefault(room, []).Select(r => Floor(r) + 1).DefaultIfEmpty(0).Max();
    }
}
