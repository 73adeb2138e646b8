using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Spegel.MirrorConfig;

/// <summary>Source-generated TOML metadata for reading a file into the untyped model (trim-safe).</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class TomlModelContext : TomlSerializerContext;
